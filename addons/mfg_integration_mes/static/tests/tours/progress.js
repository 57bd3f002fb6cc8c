import { registry } from "@web/core/registry";

// What the MES reported, as a production planner sees it on the order.
registry.category("web_tour.tours").add("mfg_integration_mes_progress", {
    steps: () => [
        {
            content: "The order shows its integration messages",
            trigger: ".o_form_view button[name='action_view_mfg_integration_messages'] .o_stat_text:contains('Integration')",
        },
        {
            content: "The chatter says what the MES reported",
            trigger: ".o-mail-Message:contains('work_order.progress_reported from Line T MES')",
        },
    ],
});
