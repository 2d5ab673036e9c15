// The hosted checkout page's card form. The card is checked as it is typed
// (brand, Luhn, expiry), encrypted here with WebCrypto as a compact JWE
// (RSA-OAEP-256 + A256GCM) to the gateway's public key from
// /.well-known/jwks.json, and only that JWE is posted: the card number and
// CVC never leave this page in the clear. The page's words come from the
// form's data-msg-* attributes (the server renders them per language).
'use strict';

(function () {
  const form = document.getElementById('card-form');
  if (!form) return;
  const fields = {
    number: document.getElementById('card-number'),
    expiry: document.getElementById('card-expiry'),
    cvc: document.getElementById('card-cvc'),
    name: document.getElementById('card-name'),
  };
  const brandLabel = document.getElementById('card-brand');
  const status = document.getElementById('form-status');
  const button = document.getElementById('pay');
  const msg = (key) => form.dataset['msg' + key];

  // Brands by their leading digits (IIN ranges), most specific first.
  const BRANDS = [
    { name: 'American Express', test: /^3[47]/, lengths: [15], cvc: 4 },
    { name: 'Diners Club', test: /^3(0[0-5]|[689])/, lengths: [14, 16, 19], cvc: 3 },
    { name: 'JCB', test: /^35(2[89]|[3-8])/, lengths: [16, 17, 18, 19], cvc: 3 },
    { name: 'UnionPay', test: /^62/, lengths: [16, 17, 18, 19], cvc: 3 },
    { name: 'Discover', test: /^(6011|65|64[4-9])/, lengths: [16, 19], cvc: 3 },
    { name: 'Mastercard', test: /^(5[1-5]|2(2[2-9][1-9]|2[3-9]|[3-6]|7[01]|720))/, lengths: [16], cvc: 3 },
    { name: 'Visa', test: /^4/, lengths: [13, 16, 19], cvc: 3 },
  ];

  const digits = (text) => text.replace(/\D/g, '');
  const brandOf = (number) => BRANDS.find((brand) => brand.test.test(number)) || null;

  function luhn(number) {
    let sum = 0;
    for (let i = 0; i < number.length; i += 1) {
      let digit = Number(number[number.length - 1 - i]);
      if (i % 2 === 1) {
        digit *= 2;
        if (digit > 9) digit -= 9;
      }
      sum += digit;
    }
    return sum % 10 === 0;
  }

  function formatNumber() {
    const number = digits(fields.number.value).slice(0, 19);
    const brand = brandOf(number);
    const groups = brand && brand.lengths[0] === 15 ? [4, 6, 5] : [4, 4, 4, 4, 3];
    const parts = [];
    let at = 0;
    for (const size of groups) {
      if (at >= number.length) break;
      parts.push(number.slice(at, at + size));
      at += size;
    }
    fields.number.value = parts.join(' ');
    const shown = brand ? brand.name : '';
    if (brandLabel.textContent !== shown) {
      brandLabel.textContent = shown;
      brandLabel.setAttribute('aria-label', shown ? msg('Brand') + ': ' + shown : '');
    }
  }

  function formatExpiry(event) {
    let value = digits(fields.expiry.value).slice(0, 4);
    if (value.length === 1 && value > '1') value = '0' + value;
    const deleting = event && event.inputType && event.inputType.startsWith('delete');
    if (value.length >= 2 && !(deleting && value.length === 2)) {
      value = value.slice(0, 2) + ' / ' + value.slice(2);
    }
    fields.expiry.value = value;
  }

  // Each check answers the error message, or '' when the field is fine.
  const checks = {
    number() {
      const number = digits(fields.number.value);
      const brand = brandOf(number);
      if (number.length < 12) return msg('NumberIncomplete');
      if (brand && !brand.lengths.includes(number.length) && number.length < Math.max(...brand.lengths)) {
        return msg('NumberIncomplete');
      }
      return luhn(number) ? '' : msg('NumberInvalid');
    },
    expiry() {
      const value = digits(fields.expiry.value);
      if (value.length !== 4) return msg('ExpiryInvalid');
      const month = Number(value.slice(0, 2));
      const year = 2000 + Number(value.slice(2));
      if (month < 1 || month > 12) return msg('ExpiryInvalid');
      const now = new Date();
      const past = year < now.getFullYear() || (year === now.getFullYear() && month < now.getMonth() + 1);
      return past ? msg('ExpiryPast') : '';
    },
    cvc() {
      const brand = brandOf(digits(fields.number.value));
      const wanted = brand ? brand.cvc : 3;
      const cvc = digits(fields.cvc.value);
      return cvc.length === wanted || (!brand && cvc.length === 4) ? '' : msg('CvcInvalid');
    },
    name() {
      return fields.name.value.trim() ? '' : msg('CardholderMissing');
    },
  };

  function show(key, message) {
    const input = fields[key];
    input.setAttribute('aria-invalid', message ? 'true' : 'false');
    document.getElementById(input.id + '-error').textContent = message;
    return !message;
  }

  // Checked when a field is left (once something was typed) and while it
  // is being corrected, so errors appear inline but not on every keystroke.
  for (const key of Object.keys(fields)) {
    const input = fields[key];
    input.addEventListener('blur', (event) => {
      // Leaving for the Pay button: the submit checks every field, and an
      // error appearing now would move the button from under the click.
      if (event.relatedTarget === button) return;
      if (input.value) show(key, checks[key]());
    });
    input.addEventListener('input', (event) => {
      if (key === 'number') formatNumber();
      if (key === 'expiry') formatExpiry(event);
      if (key === 'cvc') input.value = digits(input.value).slice(0, 4);
      if (input.getAttribute('aria-invalid') === 'true') show(key, checks[key]());
    });
  }

  const b64u = (bytes) => btoa(String.fromCharCode(...new Uint8Array(bytes)))
    .replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
  const utf8 = (text) => new TextEncoder().encode(text);

  async function encrypt(card) {
    const response = await fetch('/.well-known/jwks.json', { credentials: 'omit' });
    if (!response.ok) throw new Error('no key set');
    const jwk = (await response.json()).keys[0];
    const publicKey = await crypto.subtle.importKey(
      'jwk',
      { kty: 'RSA', n: jwk.n, e: jwk.e, alg: 'RSA-OAEP-256', ext: true },
      { name: 'RSA-OAEP', hash: 'SHA-256' },
      false,
      ['encrypt'],
    );
    const cek = crypto.getRandomValues(new Uint8Array(32));
    const iv = crypto.getRandomValues(new Uint8Array(12));
    const header = b64u(utf8(JSON.stringify({ alg: 'RSA-OAEP-256', enc: 'A256GCM', kid: jwk.kid })));
    const wrapped = await crypto.subtle.encrypt({ name: 'RSA-OAEP' }, publicKey, cek);
    const aes = await crypto.subtle.importKey('raw', cek, 'AES-GCM', false, ['encrypt']);
    const sealed = new Uint8Array(await crypto.subtle.encrypt(
      { name: 'AES-GCM', iv, additionalData: utf8(header), tagLength: 128 },
      aes,
      utf8(JSON.stringify(card)),
    ));
    cek.fill(0);
    const tag = sealed.slice(sealed.length - 16);
    return [header, b64u(wrapped), b64u(iv), b64u(sealed.slice(0, sealed.length - 16)), b64u(tag)].join('.');
  }

  function announce(message, kind) {
    status.className = kind === 'info' ? 'status info' : 'status';
    status.setAttribute('role', kind === 'info' ? 'status' : 'alert');
    status.textContent = message;
  }

  function busy(on) {
    button.disabled = on;
    form.setAttribute('aria-busy', on ? 'true' : 'false');
  }

  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    let firstBad = null;
    for (const key of Object.keys(fields)) {
      if (!show(key, checks[key]()) && !firstBad) firstBad = fields[key];
    }
    if (firstBad) {
      announce(msg('FixErrors'));
      firstBad.focus();
      return;
    }
    busy(true);
    announce(msg('Processing'), 'info');
    try {
      const expiry = digits(fields.expiry.value);
      const jwe = await encrypt({
        number: digits(fields.number.value),
        exp_month: Number(expiry.slice(0, 2)),
        exp_year: 2000 + Number(expiry.slice(2)),
        cvc: digits(fields.cvc.value),
      });
      const body = new URLSearchParams({ encrypted: jwe, name: fields.name.value.trim(), locale: form.dataset.locale });
      const response = await fetch('/checkout/' + encodeURIComponent(form.dataset.session) + '/pay', {
        method: 'POST',
        headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
        body: body.toString(),
        credentials: 'same-origin',
      });
      const answer = await response.json();
      if (response.status === 409) {
        window.location.reload();
        return;
      }
      if (answer.redirect) {
        window.location.assign(answer.redirect);
        return;
      }
      announce(answer.message || msg('Failed'));
    } catch (error) {
      announce(msg('Failed'));
    }
    busy(false);
    fields.number.focus();
  });
})();

// The wallet buttons (Alipay, WeChat Pay): choosing one confirms the
// session's payment with it; the answer is a QR code to scan with the
// phone (shown here, then the session is polled until the wallet's
// notification completes it) or the wallet's own page to go to.
(function () {
  const buttons = document.getElementById('wallet-buttons');
  if (!buttons) return;
  const status = document.getElementById('wallet-status');
  const figure = document.getElementById('wallet-qr');
  const image = document.getElementById('wallet-qr-image');
  const session = encodeURIComponent(buttons.dataset.session);
  const msg = (key) => buttons.dataset['msg' + key];
  let polling = null;

  // Progress is a polite status; a failure is an alert.
  function say(message, kind) {
    status.setAttribute('role', kind === 'failure' ? 'alert' : 'status');
    status.textContent = message;
  }

  async function poll() {
    try {
      const locale = encodeURIComponent(buttons.dataset.locale);
      const response = await fetch('/checkout/' + session + '/status?locale=' + locale, { credentials: 'same-origin' });
      const answer = await response.json();
      if (answer.redirect) {
        window.location.assign(answer.redirect);
        return;
      }
      if (answer.failed) {
        // Declined or closed in the wallet: its code is dead; choose again.
        figure.hidden = true;
        image.removeAttribute('src');
        say(answer.failed, 'failure');
        polling = null;
        return;
      }
      if (answer.status && answer.status !== 'open') {
        window.location.reload();
        return;
      }
    } catch (error) {
      // A lost poll is retried on the next tick.
    }
    polling = window.setTimeout(poll, 2000);
  }

  async function choose(button) {
    for (const other of buttons.querySelectorAll('button')) other.disabled = true;
    say(msg('Opening'));
    try {
      const body = new URLSearchParams({ method: button.dataset.wallet, locale: buttons.dataset.locale });
      const response = await fetch('/checkout/' + session + '/wallet', {
        method: 'POST',
        headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
        body: body.toString(),
        credentials: 'same-origin',
      });
      if (response.status === 409) {
        window.location.reload();
        return;
      }
      const answer = await response.json();
      if (answer.outcome === 'display_qr') {
        image.src = answer.qr_image;
        figure.hidden = false;
        say(msg('Scan'));
        if (polling) window.clearTimeout(polling);
        polling = window.setTimeout(poll, 2000);
      } else if (answer.redirect) {
        window.location.assign(answer.redirect);
        return;
      } else {
        say(answer.message || (answer.error && answer.error.message) || msg('Failed'), 'failure');
      }
    } catch (error) {
      say(msg('Failed'), 'failure');
    }
    for (const other of buttons.querySelectorAll('button')) other.disabled = false;
  }

  for (const button of buttons.querySelectorAll('button')) {
    button.addEventListener('click', () => choose(button));
  }
  // Back from a wallet's page before its notification: wait for it here.
  if (buttons.dataset.waiting === 'true') polling = window.setTimeout(poll, 2000);
})();

// Pay from balance (the customer's e-wallet): the account pages, which
// alone see the account's session cookie, say who is signed in and what
// their balance holds in the session's currency; the customer then pays
// from it, or follows the holder's step-up when one is asked. A refusal
// (too little, a limit, another account) is announced and the other ways
// to pay stay usable.
(function () {
  const box = document.getElementById('balance');
  if (!box) return;
  const status = document.getElementById('balance-status');
  const button = document.getElementById('balance-pay');
  const url = '/account/checkout/' + encodeURIComponent(box.dataset.session) +
    '/balance?locale=' + encodeURIComponent(box.dataset.locale);
  const msg = (key) => box.dataset['msg' + key];
  let csrf = '';

  function say(message, kind) {
    status.className = kind === 'info' ? 'status info' : 'status';
    status.setAttribute('role', kind === 'info' ? 'status' : 'alert');
    status.textContent = message || '';
  }

  async function look() {
    try {
      const response = await fetch(url, { credentials: 'same-origin' });
      const answer = await response.json();
      document.getElementById('balance-checking').hidden = true;
      if (answer.error) {
        say(answer.error.message);
        return;
      }
      if (!answer.signed_in) {
        document.getElementById('balance-signed-out').hidden = false;
        return;
      }
      if (answer.payer) {
        document.getElementById('balance-available').textContent = answer.available;
        document.getElementById('balance-held').hidden = false;
        csrf = answer.csrf_token;
        button.hidden = false;
      }
      if (answer.message) say(answer.message);
    } catch (error) {
      say(msg('Failed'));
    }
  }

  button.addEventListener('click', async () => {
    button.disabled = true;
    say(msg('Processing'), 'info');
    try {
      const response = await fetch(url, {
        method: 'POST',
        headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
        body: new URLSearchParams({ csrf_token: csrf }).toString(),
        credentials: 'same-origin',
      });
      if (response.status === 409) {
        window.location.reload();
        return;
      }
      const answer = await response.json();
      if (answer.redirect) {
        window.location.assign(answer.redirect);
        return;
      }
      say(answer.message || (answer.error && answer.error.message) || msg('Failed'));
    } catch (error) {
      say(msg('Failed'));
    }
    button.disabled = false;
    button.focus();
  });

  look();
})();
