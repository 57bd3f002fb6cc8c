import { registry } from "@web/core/registry";

// A failed incoming inspection, as the quality engineer finds it: a nonconformity
// with its lot in quarantine, announced to the QMS.
registry.category("web_tour.tours").add("mfg_integration_quality_nonconformity", {
    steps: () => [
        {
            content: "The nonconformity of the failed inspection",
            trigger: ".o_form_view .o_breadcrumb:contains('failed incoming inspection')",
        },
        {
            content: "Its goods: the lot in quarantine",
            trigger: ".o_form_view .o_notebook a:contains('Goods and Disposition')",
            run: "click",
        },
        {
            trigger: ".o_form_view .o_field_widget[name='mfg_lot_ids']:contains('Q-LOT-1')",
        },
        {
            content: "Its integration messages: the inspection in, the nonconformance out",
            trigger: ".o_form_view button[name='action_view_mfg_integration_messages'] .o_stat_text:contains('Integration')",
        },
    ],
});
