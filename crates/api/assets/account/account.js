// Customer account pages: progressive enhancement only (every page works
// without script). Moves focus to an error so screen readers announce it,
// and stops a form from being sent twice by a double click.
"use strict";
document.addEventListener("DOMContentLoaded", () => {
  const error = document.getElementById("error");
  if (error) {
    error.focus();
  }
  for (const form of document.querySelectorAll("form[method=post]")) {
    form.addEventListener("submit", (event) => {
      if (form.dataset.sent === "1") {
        event.preventDefault();
        return;
      }
      form.dataset.sent = "1";
      for (const button of form.querySelectorAll("button[type=submit]")) {
        button.setAttribute("aria-busy", "true");
      }
    });
  }
});

// Passkeys (WebAuthn). A form with `data-passkey` runs a ceremony instead
// of posting: it asks its `data-challenge` URL for the server's options,
// lets the browser's authenticator answer (biometrics or the device PIN)
// with `navigator.credentials.create` ("create": add a passkey) or `.get`
// ("get": sign in, or the step-up), posts the answer to its action and
// goes where the answer says (our own origin only). The forms that only
// work with a script stay hidden without one. Binary fields travel in
// base64url, as webauthn-rs reads and writes them.
const b64url = {
  decode(text) {
    const base64 = text.replace(/-/g, "+").replace(/_/g, "/");
    const padded = base64 + "===".slice((base64.length + 3) % 4);
    return Uint8Array.from(atob(padded), (c) => c.charCodeAt(0)).buffer;
  },
  encode(buffer) {
    let binary = "";
    for (const byte of new Uint8Array(buffer)) {
      binary += String.fromCharCode(byte);
    }
    return btoa(binary).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
  },
};

/** An error the server answered (its message is for the reader). */
class Refused extends Error {
  constructor(error) {
    super(error.message || "");
    this.name = "Refused";
    this.stepUpUrl = error.step_up_url;
  }
}

async function postForm(url, fields) {
  const response = await fetch(url, {
    method: "POST",
    credentials: "same-origin",
    headers: { "Content-Type": "application/x-www-form-urlencoded" },
    body: new URLSearchParams(fields),
  });
  const body = await response.json().catch(() => ({}));
  if (!response.ok) {
    throw new Refused(body.error || {});
  }
  return body;
}

function credentialIds(list) {
  return (list || []).map((c) => Object.assign({}, c, { id: b64url.decode(c.id) }));
}

function creationOptions(options) {
  const publicKey = Object.assign({}, options.publicKey);
  publicKey.challenge = b64url.decode(publicKey.challenge);
  publicKey.user = Object.assign({}, publicKey.user, { id: b64url.decode(publicKey.user.id) });
  publicKey.excludeCredentials = credentialIds(publicKey.excludeCredentials);
  return { publicKey };
}

function requestOptions(options) {
  const publicKey = Object.assign({}, options.publicKey);
  publicKey.challenge = b64url.decode(publicKey.challenge);
  publicKey.allowCredentials = credentialIds(publicKey.allowCredentials);
  return { publicKey };
}

/** The PublicKeyCredential as JSON, its `response`'s buffers in base64url. */
function credentialJson(credential, buffers, extra) {
  const response = Object.assign({}, extra);
  for (const name of buffers) {
    const value = credential.response[name];
    response[name] = value ? b64url.encode(value) : null;
  }
  return JSON.stringify({
    id: credential.id,
    rawId: b64url.encode(credential.rawId),
    type: credential.type,
    response,
    extensions: credential.getClientExtensionResults(),
  });
}

function attestationJson(credential) {
  const r = credential.response;
  const transports = r.getTransports ? { transports: r.getTransports() } : {};
  return credentialJson(credential, ["attestationObject", "clientDataJSON"], transports);
}

function assertionJson(credential) {
  const buffers = ["authenticatorData", "clientDataJSON", "signature", "userHandle"];
  return credentialJson(credential, buffers, {});
}

const ceremonies = {
  async create(options) {
    return attestationJson(await navigator.credentials.create(creationOptions(options)));
  },
  async get(options) {
    return assertionJson(await navigator.credentials.get(requestOptions(options)));
  },
};

function showPasskeyError(box, text) {
  box.textContent = text;
  box.hidden = false;
  box.focus();
}

async function runPasskey(form) {
  const fields = Object.fromEntries(new FormData(form));
  // The challenge needs only the form token and language.
  const { name, return_to: returnTo, payment_intent: paymentIntent, ...common } = fields;
  const challenge = await postForm(form.dataset.challenge, common);
  const credential = await ceremonies[form.dataset.passkey](challenge.options);
  const finish = Object.assign({}, fields, { challenge: challenge.id, credential });
  const done = await postForm(form.action, finish);
  window.location.assign(done.return_to);
}

function passkeyForm(form, box) {
  form.hidden = false;
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    if (form.dataset.running === "1") {
      return;
    }
    if (!window.PublicKeyCredential) {
      showPasskeyError(box, box.dataset.unsupported);
      return;
    }
    form.dataset.running = "1";
    runPasskey(form).catch((err) => {
      if (err instanceof Refused && err.stepUpUrl) {
        window.location.assign(err.stepUpUrl);
        return;
      }
      const text = err instanceof Refused ? err.message : "";
      showPasskeyError(box, text || box.dataset.failed);
      form.dataset.sent = "0";
      form.dataset.running = "0";
      for (const button of form.querySelectorAll("button[type=submit]")) {
        button.removeAttribute("aria-busy");
      }
    });
  }, { capture: true });
}

document.addEventListener("DOMContentLoaded", () => {
  const box = document.getElementById("passkey-error");
  if (!box) {
    return;
  }
  for (const form of document.querySelectorAll("form[data-passkey]")) {
    passkeyForm(form, box);
  }
});
