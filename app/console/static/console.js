// Worldgate console: the bearer token, htmx set-up (JSON forms, confirmations), file loading.
const TOKEN_KEY = "worldgate.token";

export function token() {
  return sessionStorage.getItem(TOKEN_KEY) || "";
}

// The WebSocket subprotocols that carry the token (browsers cannot set headers on a socket).
export function socketProtocols() {
  const protocols = ["worldgate.events"];
  const value = token();
  if (value) {
    const bytes = new TextEncoder().encode(value);
    let binary = "";
    bytes.forEach((b) => { binary += String.fromCharCode(b); });
    const b64 = btoa(binary).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
    protocols.push(`worldgate.bearer.${b64}`);
  }
  return protocols;
}

function showTokenState() {
  const button = document.getElementById("token-button");
  if (!button) return;
  const set = Boolean(token());
  button.textContent = set ? "Token: set" : "Token: not set";
  button.classList.toggle("set", set);
}

function openTokenDialog() {
  const dialog = document.getElementById("token-dialog");
  const input = document.getElementById("token-input");
  input.value = token();
  dialog.showModal();
  input.focus();
}

function setUpTokenDialog() {
  const dialog = document.getElementById("token-dialog");
  dialog.addEventListener("close", () => {
    const input = document.getElementById("token-input");
    if (dialog.returnValue === "save" && input.value.trim()) {
      sessionStorage.setItem(TOKEN_KEY, input.value.trim());
    } else if (dialog.returnValue === "forget") {
      sessionStorage.removeItem(TOKEN_KEY);
    } else {
      return;
    }
    showTokenState();
    document.body.dispatchEvent(new CustomEvent("wg:token"));
  });
  document.addEventListener("click", (event) => {
    if (event.target.closest("[data-open-token]")) openTokenDialog();
  });
}

// A confirmation in a dialog of the page instead of window.confirm.
function confirmWith(text) {
  const dialog = document.getElementById("confirm-dialog");
  document.getElementById("confirm-text").textContent = text;
  dialog.returnValue = "";
  dialog.showModal();
  return new Promise((resolve) => {
    dialog.addEventListener("close", () => resolve(dialog.returnValue === "ok"), { once: true });
  });
}

function confirmText(detail) {
  const form = detail.elt.closest("form");
  if (!form || !form.dataset.confirmScope) return detail.question;
  const submitter = detail.triggeringEvent && detail.triggeringEvent.submitter;
  const state = submitter ? submitter.value : "change";
  const verbs = { HALTED: "Halt", REDUCING: "Set to reduce-only", ACTIVE: "Resume" };
  const worldInput = form.querySelector("input[name=world_id]:not([type=hidden])");
  const scope = worldInput ? `world ${worldInput.value}` : form.dataset.confirmScope;
  const reason = (form.querySelector("input[name=reason]") || {}).value || "";
  return `${verbs[state] || state} ${scope}? Reason: “${reason}”`;
}

function setUpHtmx() {
  const htmx = window.htmx;
  htmx.config.defaultSwapStyle = "innerHTML";
  // Every call carries the token; fragments forward it to the API.
  document.body.addEventListener("htmx:configRequest", (event) => {
    const value = token();
    if (value) event.detail.headers.Authorization = `Bearer ${value}`;
  });
  document.body.addEventListener("htmx:confirm", (event) => {
    if (!event.detail.question) return;
    event.preventDefault();
    confirmWith(confirmText(event.detail)).then((ok) => {
      if (ok) event.detail.issueRequest(true);
    });
  });
  // Forms are sent as JSON objects (the API's content type), fields as strings.
  htmx.defineExtension("wg-json", {
    onEvent(name, event) {
      if (name === "htmx:configRequest") {
        event.detail.headers["Content-Type"] = "application/json";
      }
    },
    encodeParameters(xhr, parameters) {
      xhr.overrideMimeType("text/html");
      const object = {};
      parameters.forEach((value, key) => { object[key] = value; });
      return JSON.stringify(object);
    },
  });
  // Show a failed console call instead of failing silently.
  document.body.addEventListener("htmx:responseError", (event) => {
    const target = event.detail.target;
    if (!target) return;
    let detail = event.detail.xhr.statusText;
    try { detail = JSON.parse(event.detail.xhr.responseText).detail || detail; } catch (_) { }
    const alert = document.createElement("div");
    alert.className = "alert bad";
    alert.textContent = `${event.detail.xhr.status}: ${detail}`;
    target.replaceChildren(alert);
  });
}

function setUpFileInputs() {
  document.addEventListener("change", (event) => {
    const input = event.target;
    if (!input.matches("input[type=file][data-load-into]") || !input.files.length) return;
    const area = input.form.querySelector(`textarea[name=${input.dataset.loadInto}]`);
    input.files[0].text().then((text) => { area.value = text; });
  });
}

showTokenState();
setUpTokenDialog();
setUpHtmx();
setUpFileInputs();
