import { registry } from "@web/core/registry";

// A new API key is shown once, then only its hint.
registry.category("web_tour.tours").add("mfg_integration_api_key_once", {
    url: "/odoo/action-mfg_integration_core.mfg_integration_system_action",
    steps: () => [
        {
            trigger: ".o_data_row td[name='name']:contains('Test MES')",
            run: "click",
        },
        {
            trigger: "button[name='action_generate_api_key']",
            run: "click",
        },
        {
            trigger: ".modal .o_field_widget[name='name'] input",
            run: "edit Tour line controller",
        },
        {
            trigger: ".modal button[name='action_generate']",
            run: "click",
        },
        {
            content: "The key is shown, with the warning that it is shown once",
            trigger: ".modal .o_field_widget[name='secret']:contains('mfgk_')",
        },
        {
            trigger: ".modal .o_field_widget[name='explanation']:contains('cannot be shown again')",
        },
        {
            trigger: ".modal button:contains('Done')",
            run: "click",
        },
        {
            content: "The system lists the key by its hint only",
            trigger: "button[name='action_view_api_keys']",
            run: "click",
        },
        {
            trigger: ".o_data_row:contains('Tour line controller')",
            run() {
                if (document.body.textContent.match(/mfgk_[A-Za-z0-9_-]{20,}/)) {
                    console.error("The full API key is shown again");
                }
            },
        },
    ],
});

// A mapping tried on its sample.
registry.category("web_tour.tours").add("mfg_integration_mapping_test", {
    url: "/odoo/action-mfg_integration_core.mfg_integration_mapping_action",
    steps: () => [
        {
            trigger: ".o_data_row td[name='name']:contains('Test MES orders')",
            run: "click",
        },
        {
            trigger: "button[name='action_test']",
            run: "click",
        },
        {
            content: "The sample of the mapping is offered",
            trigger: ".modal .o_field_widget[name='sample'] textarea",
            run() {
                if (!this.anchor.value.includes("MO-77")) {
                    console.error("The mapping's sample is not offered");
                }
            },
        },
        {
            trigger: ".modal button[name='action_run']",
            run: "click",
        },
        {
            content: "The result is the canonical data",
            trigger: ".modal .o_field_widget[name='result']:contains('WH/MO/00077')",
        },
    ],
});

// The operations dashboard opens with a card per system.
registry.category("web_tour.tours").add("mfg_integration_dashboard", {
    url: "/odoo/action-mfg_integration_core.mfg_integration_overview_action",
    steps: () => [
        {
            trigger: ".o_kanban_record:contains('Test MES')",
        },
        {
            content: "The card's dead letters open the list behind them",
            trigger: ".o_kanban_record:contains('Test MES') a[name='action_open_dead_letters']",
            run: "click",
        },
        {
            content: "The dead letters, grouped by error class",
            trigger: ".o_list_view .o_group_header:contains('business-rule')",
            run: "click",
        },
        {
            trigger: ".o_list_view .o_data_row td[name='error_class']:contains('business-rule')",
        },
    ],
});
