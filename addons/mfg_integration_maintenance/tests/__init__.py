from . import test_catalogue
from . import test_cmms
from . import test_downtime
from . import test_tours
