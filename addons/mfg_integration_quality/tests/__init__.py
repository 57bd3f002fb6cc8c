from . import test_catalogue
from . import test_containment_flow
from . import test_quality_flows
from . import test_tours
