import { registry } from "@web/core/registry";

// One dead letter: found in the list, its payload edited, replayed.
registry.category("web_tour.tours").add("mfg_integration_dead_letter_edit_replay", {
    url: "/odoo/action-mfg_integration_core.mfg_integration_message_dead_action",
    steps: () => [
        {
            content: "Unfold the system's dead letters",
            trigger: ".o_group_header:contains('Test MES')",
            run: "click",
        },
        {
            content: "Open the dead letter",
            trigger: ".o_data_row td[name='ce_id']:contains('tour-dead-1')",
            run: "click",
        },
        {
            trigger: ".o_field_widget[name='error_message']:contains('is closed')",
        },
        {
            content: "Edit its payload",
            trigger: "button:contains('Edit Payload')",
            run: "click",
        },
        {
            trigger: ".modal .o_field_widget[name='payload'] textarea",
            run: 'edit {"order": "WH/MO/00077", "quantity": 3}',
        },
        {
            content: "Save and replay",
            trigger: ".modal button[name='action_apply']",
            run: "click",
        },
        {
            content: "The message waits for its processing again",
            trigger: ".o_statusbar_status button.o_arrow_button_current:contains('Queued')",
        },
        {
            trigger: ".o-mail-Message:contains('Payload edited')",
        },
    ],
});

// Every dead letter of one error class, replayed from the replay wizard.
registry.category("web_tour.tours").add("mfg_integration_replay_error_class", {
    url: "/odoo/action-mfg_integration_core.mfg_integration_message_replay_action",
    steps: () => [
        {
            trigger: ".o_field_widget[name='error_class'] input",
            run: "edit no-handler && click body",
        },
        {
            content: "The wizard counts the matching dead letters",
            trigger: ".o_field_widget[name='match_count']:contains('3')",
        },
        {
            trigger: "button[name='action_replay']",
            run: "click",
        },
        {
            trigger: ".o_notification:contains('3 message(s) queued for replay')",
        },
    ],
});
