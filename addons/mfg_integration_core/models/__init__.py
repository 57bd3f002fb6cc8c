from . import mfg_integration_event_type
from . import mfg_integration_event_schema
from . import mfg_integration_system
from . import mfg_integration_endpoint
from . import mfg_integration_api_key
