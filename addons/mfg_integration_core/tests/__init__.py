from . import test_access
from . import test_api_key
from . import test_ingress_http
from . import test_event_type
from . import test_multicompany
from . import test_processing
from . import test_secrets
from . import test_system
