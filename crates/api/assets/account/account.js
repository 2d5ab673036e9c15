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

// Passkeys (WebAuthn): the step-up page asks our page for a challenge, lets
// the browser's authenticator sign it (biometrics or the device PIN), posts
// the answer back and goes where the page says (our own origin only).
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

async function postForm(url, fields) {
  const response = await fetch(url, {
    method: "POST",
    credentials: "same-origin",
    headers: { "Content-Type": "application/x-www-form-urlencoded" },
    body: new URLSearchParams(fields),
  });
  const body = await response.json().catch(() => ({}));
  if (!response.ok) {
    throw new Error((body.error && body.error.message) || "");
  }
  return body;
}

function assertionJson(credential) {
  const r = credential.response;
  return JSON.stringify({
    id: credential.id,
    rawId: b64url.encode(credential.rawId),
    type: credential.type,
    response: {
      authenticatorData: b64url.encode(r.authenticatorData),
      clientDataJSON: b64url.encode(r.clientDataJSON),
      signature: b64url.encode(r.signature),
      userHandle: r.userHandle ? b64url.encode(r.userHandle) : null,
    },
    extensions: credential.getClientExtensionResults(),
  });
}

function requestOptions(options) {
  const publicKey = Object.assign({}, options.publicKey);
  publicKey.challenge = b64url.decode(publicKey.challenge);
  publicKey.allowCredentials = (publicKey.allowCredentials || []).map((c) =>
    Object.assign({}, c, { id: b64url.decode(c.id) }));
  return { publicKey };
}

function showPasskeyError(box, text) {
  box.textContent = text;
  box.hidden = false;
  box.focus();
}

async function stepUp(form, box) {
  const fields = Object.fromEntries(new FormData(form));
  const common = { csrf_token: fields.csrf_token, locale: fields.locale };
  const challenge = await postForm(form.dataset.challenge, common);
  const credential = await navigator.credentials.get(requestOptions(challenge.options));
  const done = await postForm(form.action, Object.assign({}, common, {
    return_to: fields.return_to,
    challenge: challenge.id,
    credential: assertionJson(credential),
  }));
  window.location.assign(done.return_to);
}

document.addEventListener("DOMContentLoaded", () => {
  const form = document.getElementById("step-up");
  const box = document.getElementById("passkey-error");
  if (!form || !box) {
    return;
  }
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    if (form.dataset.passkey === "1") {
      return;
    }
    if (!window.PublicKeyCredential) {
      showPasskeyError(box, box.dataset.unsupported);
      return;
    }
    form.dataset.passkey = "1";
    const buttons = form.querySelectorAll("button[type=submit]");
    stepUp(form, box).catch((err) => {
      const text = err && err.message && err.name === "Error" ? err.message : "";
      showPasskeyError(box, text || box.dataset.failed);
      form.dataset.sent = "0";
      form.dataset.passkey = "0";
      for (const button of buttons) {
        button.removeAttribute("aria-busy");
      }
    });
  }, { capture: true });
});
