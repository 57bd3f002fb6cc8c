import { registry } from "@web/core/registry";

// A flow run whose step failed for good: found among the flow incidents, its error
// read, and its step retried once the cause is fixed.
registry.category("web_tour.tours").add("mfg_integration_flow_incident", {
    url: "/odoo/action-mfg_integration_core.mfg_integration_flow_incident_action",
    steps: () => [
        {
            content: "Open the run in incident",
            trigger: ".o_data_row td[name='key']:contains('MO-TOUR')",
            run: "click",
        },
        {
            content: "The failed step says why",
            trigger: ".o_field_widget[name='error_message']:contains('no line')",
        },
        {
            trigger: ".o_statusbar_status button.o_arrow_button_current:contains('Incident')",
        },
        {
            content: "The cause is fixed: retry the step",
            trigger: "button[name='action_retry']",
            run: "click",
        },
        {
            trigger: ".o_statusbar_status button.o_arrow_button_current:contains('Running')",
        },
        {
            trigger: ".o-mail-Message:contains('Retry requested')",
        },
    ],
});
