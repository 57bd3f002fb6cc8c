import { registry } from "@web/core/registry";

// A machine's downtime signal, as a maintenance planner finds it: the downtime, the
// blocked work center and the maintenance request opened for it.
registry.category("web_tour.tours").add("mfg_integration_maintenance_downtime", {
    url: "/odoo/action-mfg_integration_maintenance.mfg_integration_downtime_action",
    steps: () => [
        {
            content: "The press is stopped",
            trigger: ".o_data_row td[name='equipment_id']:contains('Press T7')",
            run: "click",
        },
        {
            trigger: ".o_field_widget[name='reason_code']:contains('HYD-LEAK')",
        },
        {
            content: "Open the maintenance request it opened",
            trigger: ".o_field_widget[name='request_id'] a",
            run: "click",
        },
        {
            trigger: ".o_form_view .o_field_widget[name='mfg_downtime_id']:contains('D-1')",
        },
        {
            content: "The request was announced to the CMMS",
            trigger: ".o_form_view button[name='action_view_mfg_integration_messages'] .o_stat_text:contains('Integration')",
        },
    ],
});
