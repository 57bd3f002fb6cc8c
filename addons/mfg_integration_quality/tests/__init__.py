from . import test_catalogue
from . import test_quality_flows
