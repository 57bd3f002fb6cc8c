from . import test_access
from . import test_catalogue
from . import test_completion
from . import test_consumption
from . import test_progress
from . import test_release
from . import test_release_gate
from . import test_tours
