import { registry } from "@web/core/registry";

// From the to-do of a new incident to its repair: the suggested fix is applied to
// the mapping (after being tried on the failing payloads), then every dead letter of
// the incident is replayed at once. The test checks what follows on the server.
registry.category("web_tour.tours").add("mfg_integration_incident_repair", {
    url: "/odoo",
    steps: () => [
        {
            content: "The activity menu shows a to-do",
            trigger: ".o-mail-ActivityMenu-counter",
            run: "click",
        },
        {
            content: "Open the incidents that wait for me",
            trigger: ".o-mail-ActivityGroup:contains('Integration Incident')",
            run: "click",
        },
        {
            content: "Open the incident",
            trigger: ".o_data_row td[name='error_class']:contains('validation-failed')",
            run: "click",
        },
        {
            content: "It gathers every dead letter of the cause",
            trigger: ".o_field_widget[name='dead_count']:contains('500')",
        },
        {
            content: "The signature names the place that fails",
            trigger: ".o_field_widget[name='signature']:contains('/data/quantity')",
        },
        {
            content: "Ask for fixes",
            trigger: "button[name='action_suggest']",
            run: "click",
        },
        {
            content: "The best fix reads the renamed field, and repairs every payload",
            trigger:
                ".modal .o_data_row:first td[name='title']:contains('quantity_done')",
        },
        {
            trigger: ".modal .o_data_row:first td[name='repaired_count']:contains('500')",
        },
        {
            content: "The reason is given",
            trigger: ".modal .o_data_row:first td[name='reason']:contains('named like')",
        },
        {
            content: "Apply it",
            trigger: ".modal .o_data_row:first button[name='action_apply']",
            run: "click",
        },
        {
            content: "The fix is confirmed",
            trigger: ".o_notification:contains('Applied')",
        },
        {
            content: "Back on the incident, replay its dead letters",
            trigger: ".o_form_view button[name='action_replay_all']",
            run: "click",
        },
        {
            content: "All of them are queued",
            trigger: ".o_notification:contains('500 dead letter(s) queued for replay')",
            // the notification shows once the form has reloaded after queueing 500
            // replays: on a busy machine that takes longer than a step's 10 s
            timeout: 30000,
        },
    ],
});

// After the replayed messages were processed: the incident is resolved.
registry.category("web_tour.tours").add("mfg_integration_incident_resolved", {
    url: "/odoo/action-mfg_integration_core.mfg_integration_incident_action",
    steps: () => [
        {
            content: "Show the resolved incidents",
            trigger: ".o_searchview_facet:contains('Open') .o_facet_remove",
            run: "click",
        },
        {
            trigger: ".o_data_row td[name='state']:contains('Resolved')",
            run: "click",
        },
        {
            content: "Every dead letter was repaired",
            trigger: ".o_field_widget[name='done_count']:contains('500')",
        },
        {
            trigger: ".o_statusbar_status button.o_arrow_button_current:contains('Resolved')",
        },
    ],
});
