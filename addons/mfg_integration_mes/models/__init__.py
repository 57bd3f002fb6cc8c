from . import mfg_integration_system
from . import mfg_integration_subscription
from . import mrp_production
from . import mrp_workorder
from . import stock_move
from . import mfg_integration_handler
