from . import mfg_integration_api_key_wizard
from . import mfg_integration_secret_reveal
