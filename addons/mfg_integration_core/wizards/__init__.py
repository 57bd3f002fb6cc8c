from . import mfg_integration_api_key_wizard
from . import mfg_integration_secret_reveal
from . import mfg_integration_message_discard
from . import mfg_integration_message_edit
from . import mfg_integration_message_replay
from . import mfg_integration_mapping_test
from . import mfg_integration_mapping_transfer
