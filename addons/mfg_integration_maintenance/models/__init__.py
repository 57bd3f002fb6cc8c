from . import mfg_integration_resolver
from . import mfg_integration_system
from . import mfg_integration_downtime_reason
from . import mfg_integration_downtime
from . import maintenance_equipment
from . import maintenance_request
from . import stock_move
from . import mfg_integration_handler
