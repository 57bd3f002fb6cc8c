import { registry } from "@web/core/registry";

/** A cookie set by the test: the URL of its receiver on 127.0.0.1. */
function testCookie(name) {
    const found = document.cookie.split("; ").find((c) => c.startsWith(`${name}=`));
    return found ? decodeURIComponent(found.slice(name.length + 1)) : "";
}

let apiKey = "";

// A system onboarded in one guided wizard: kind and identity, template, credentials
// shown once, then an event each way.
registry.category("web_tour.tours").add("mfg_integration_onboarding", {
    url: "/odoo/action-mfg_integration_core.mfg_integration_onboarding_action",
    steps: () => [
        {
            trigger: ".modal .o_field_widget[name='name'] input",
            run: "edit Press line MES",
        },
        {
            trigger: ".modal .o_field_widget[name='code'] input",
            run: "edit press_mes",
        },
        {
            content: "A kind of system: an MES",
            trigger: ".modal .o_field_widget[name='kind'] input[data-value='mes']",
            run: "click",
        },
        {
            trigger: ".modal .o_field_widget[name='url'] input",
            run: `edit ${testCookie("mfg_tour_receiver")}`,
        },
        {
            trigger: ".modal button[name='action_next']",
            run: "click",
        },
        {
            content: "The MES template: what it sends and what it receives",
            trigger:
                ".modal .o_field_widget[name='inbound_event_type_ids'] .o_tag:contains('work_order.progress_reported')",
        },
        {
            trigger: ".modal .o_field_widget[name='outbound_event_type_ids'] .o_tag",
        },
        {
            trigger: ".modal button[name='action_create']",
            run: "click",
        },
        {
            content: "The API key and the signing secret, shown once",
            trigger: ".modal .o_field_widget[name='api_key_once']:contains('mfgk_')",
            run() {
                const input = this.anchor.querySelector("input");
                apiKey = (input ? input.value : this.anchor.textContent).trim();
            },
        },
        {
            trigger: ".modal .o_field_widget[name='signing_secret_once']:contains('whsec_')",
        },
        {
            trigger: ".modal button[name='action_to_tests']",
            run: "click",
        },
        {
            content: "The secrets are gone",
            trigger: ".modal button[name='action_send_test']",
            run() {
                if (document.querySelector(".modal").textContent.includes(apiKey)) {
                    console.error("The API key is shown again");
                }
                this.anchor.click();
            },
        },
        {
            content: "Odoo's test event reached the system",
            trigger: ".modal .o_field_widget[name='outbound_result']:contains('Delivered: HTTP 200')",
        },
        {
            content: "The system sends its ping, as the curl line shows",
            trigger: ".modal .o_field_widget[name='curl_command']:contains('integration.ping')",
            async run() {
                const response = await fetch("/api/mfg/v1/events", {
                    method: "POST",
                    headers: {
                        Authorization: `Bearer ${apiKey}`,
                        "Content-Type": "application/json",
                    },
                    body: JSON.stringify({
                        specversion: "1.0",
                        id: "press-ping-tour",
                        source: "urn:press_mes",
                        type: "integration.ping",
                        data: { message: "Hello from the press line" },
                    }),
                });
                if (response.status !== 202) {
                    console.error(`The ping was answered ${response.status}`);
                }
            },
        },
        {
            trigger: ".modal button[name='action_check']",
            run: "click",
        },
        {
            content: "Both tests passed",
            trigger: ".modal .o_statusbar_status button.o_arrow_button_current:contains('Onboarded')",
        },
        {
            trigger: ".modal .o_field_widget[name='inbound_result']:contains('Received')",
        },
        {
            trigger: ".modal button[name='action_open_system']",
            run: "click",
        },
        {
            content: "The system is marked onboarded",
            trigger: ".o_form_view .ribbon:contains('Onboarded')",
        },
    ],
});
