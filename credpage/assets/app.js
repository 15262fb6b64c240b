// The credentials page: a thin client of the issuer's account login and
// account keys endpoints. Settings come from data attributes on #app.
//
// The account token lives in the variable `token` only: never in web
// storage or a cookie. Nothing here turns a string into HTML (the
// Content-Security-Policy requires Trusted Types for that): every text is
// set with textContent.
'use strict';
(function () {
  const $ = (id) => document.getElementById(id);
  const app = $('app');
  const cfg = app.dataset;

  let token = null; // the account token, in memory only
  let pending = null; // the key the confirmation dialog is about: {id, label, button}

  const status = $('status');
  const error = $('error');

  function say(message, focus) {
    error.hidden = true;
    error.textContent = '';
    status.textContent = message;
    if (focus) focus.focus();
  }

  function fail(message) {
    status.textContent = '';
    error.textContent = message;
    error.hidden = false;
    error.focus();
  }

  // call makes one request to the issuer and returns its status, its JSON
  // body (null when there is none) and its Retry-After. credentials:
  // 'omit' sends no cookie and keeps the browser from prompting for a
  // password on a 401 with a Basic challenge.
  async function call(method, url, headers, body) {
    let resp;
    try {
      resp = await fetch(url, {
        method: method,
        headers: Object.assign({ Accept: 'application/json' }, headers),
        body: body,
        credentials: 'omit',
        cache: 'no-store',
        redirect: 'error',
      });
    } catch (e) {
      return { status: 0, body: null, retryAfter: null };
    }
    let json = null;
    if (resp.status !== 204) {
      try {
        json = await resp.json();
      } catch (e) {
        json = null;
      }
    }
    return { status: resp.status, body: json, retryAfter: resp.headers.get('Retry-After') };
  }

  // problem is what went wrong with a failed request, for people.
  function problem(r) {
    if (r.status === 0) return 'The server could not be reached. Check your connection and try again.';
    if (r.status === 429) {
      const s = parseInt(r.retryAfter, 10);
      return 'Too many attempts. Try again ' + (s > 0 ? 'in ' + s + ' seconds.' : 'later.');
    }
    const b = r.body && typeof r.body === 'object' ? r.body : {};
    const why = b[cfg.errorDescription] || b[cfg.errorCode];
    if (r.status >= 500) return 'The server failed (' + r.status + '). Try again later.';
    return why ? 'Refused: ' + why + '.' : 'Refused (HTTP ' + r.status + ').';
  }

  function authorization() {
    return { Authorization: 'Bearer ' + token };
  }

  // basic encodes login:password for HTTP Basic in UTF-8 (RFC 7617).
  function basic(login, password) {
    const bytes = new TextEncoder().encode(login + ':' + password);
    let s = '';
    bytes.forEach((b) => { s += String.fromCharCode(b); });
    return 'Basic ' + btoa(s);
  }

  function busy(button, on) {
    button.disabled = on;
    button.setAttribute('aria-busy', on ? 'true' : 'false');
  }

  // Log in.
  $('login-form').addEventListener('submit', async (ev) => {
    ev.preventDefault();
    const login = $('login').value.trim();
    const password = $('password').value;
    if (login === '' || password === '') {
      fail('Enter your username or email and your password.');
      return;
    }
    const button = $('login-button');
    busy(button, true);
    say('Logging in…');
    const r = await call('POST', cfg.loginUrl, { Authorization: basic(login, password) });
    busy(button, false);
    if (r.status === 401) {
      fail('Login failed: wrong username, email or password.');
      return;
    }
    const t = r.status === 200 && r.body ? r.body[cfg.tokenMember] : null;
    if (typeof t !== 'string' || t === '') {
      fail(r.status === 200 ? 'Login failed: the answer held no token.' : problem(r));
      return;
    }
    token = t;
    $('password').value = '';
    $('who').textContent = login;
    $('login-section').hidden = true;
    $('keys-section').hidden = false;
    if (await loadKeys()) say('Logged in as ' + login + '.', $('keys-heading'));
  });

  function logout(message) {
    token = null;
    pending = null;
    hideNewKey();
    $('keys-body').replaceChildren();
    $('who').textContent = '';
    $('keys-section').hidden = true;
    $('login-section').hidden = false;
    if (message) {
      fail(message);
    } else {
      say('Logged out.', $('login'));
    }
  }

  $('logout').addEventListener('click', () => logout());

  // expired handles a 401 from the keys endpoint: the account token died
  // (it expired, the password changed, the account was disabled).
  function expired() {
    logout('Your session has ended. Log in again.');
  }

  // loadKeys fetches and shows the account's keys; it reports success.
  async function loadKeys() {
    const r = await call('GET', cfg.keysUrl, authorization());
    if (r.status === 401) {
      expired();
      return false;
    }
    let keys = null;
    if (r.status === 200 && r.body) {
      keys = Array.isArray(r.body) ? r.body : r.body[cfg.keyList];
    }
    if (!Array.isArray(keys)) {
      fail(r.status === 200 ? 'The key listing could not be read.' : problem(r));
      return false;
    }
    const rows = keys.map(row);
    $('keys-body').replaceChildren(...rows);
    $('keys-table').hidden = rows.length === 0;
    $('no-keys').hidden = rows.length !== 0;
    return true;
  }

  function cell(tag, text) {
    const c = document.createElement(tag);
    if (text !== undefined) c.textContent = text;
    return c;
  }

  // row renders one key of the listing.
  function row(key) {
    const id = String(key[cfg.keyId]);
    const tr = document.createElement('tr');
    let label = id;
    if (cfg.keyName) {
      const name = key[cfg.keyName] ? String(key[cfg.keyName]) : '';
      const th = cell('th', name || '(no name)');
      th.scope = 'row';
      if (!name) th.className = 'unnamed';
      tr.append(th);
      if (name) label = name;
    }
    const idCell = cell('td');
    idCell.append(cell('code', id));
    tr.append(idCell);
    if (cfg.keyCreated) {
      const td = cell('td');
      const at = key[cfg.keyCreated];
      if (at) {
        const time = cell('time', new Date(at).toLocaleString());
        time.dateTime = String(at);
        td.append(time);
      }
      tr.append(td);
    }
    const del = cell('button', 'Delete');
    del.type = 'button';
    del.className = 'danger';
    del.setAttribute('aria-label', 'Delete the key ' + label);
    del.dataset.keyId = id;
    del.addEventListener('click', () => confirmDelete(id, label, del));
    const td = cell('td');
    td.append(del);
    tr.append(td);
    return tr;
  }

  // Generate a key.
  $('create-form').addEventListener('submit', async (ev) => {
    ev.preventDefault();
    hideNewKey();
    const input = $('key-name');
    const name = input ? input.value.trim() : '';
    const button = $('create');
    busy(button, true);
    say('Generating a key…');
    const headers = authorization();
    let body;
    if (name !== '') {
      headers['Content-Type'] = 'application/json';
      body = JSON.stringify({ name: name });
    }
    const r = await call('POST', cfg.keysUrl, headers, body);
    busy(button, false);
    if (r.status === 401) {
      expired();
      return;
    }
    const ok = (r.status === 200 || r.status === 201) && r.body;
    const secret = ok ? r.body[cfg.keySecret] : null;
    if (typeof secret !== 'string' || secret === '') {
      fail(ok ? 'The new key could not be read.' : problem(r));
      return;
    }
    if (input) input.value = '';
    $('new-key-id').textContent = String(r.body[cfg.newKeyId]);
    $('new-key-secret').textContent = secret;
    $('new-key').hidden = false;
    await loadKeys();
    say('Key generated. Copy its secret now: it cannot be shown again.', $('new-key-heading'));
  });

  function hideNewKey() {
    $('new-key').hidden = true;
    $('new-key-id').textContent = '';
    $('new-key-secret').textContent = '';
  }

  $('dismiss').addEventListener('click', () => {
    hideNewKey();
    say('The secret is no longer shown.', $('key-name') || $('create'));
  });

  $('copy').addEventListener('click', async () => {
    const secret = $('new-key-secret').textContent;
    try {
      await navigator.clipboard.writeText(secret);
      say('The secret is copied to the clipboard.');
      return;
    } catch (e) {
      // No clipboard API (or no permission): select it and copy that.
    }
    const range = document.createRange();
    range.selectNodeContents($('new-key-secret'));
    const sel = window.getSelection();
    sel.removeAllRanges();
    sel.addRange(range);
    let copied = false;
    try {
      copied = document.execCommand('copy');
    } catch (e) {
      copied = false;
    }
    say(copied ? 'The secret is copied to the clipboard.' : 'The secret is selected: copy it with your keyboard (Ctrl+C or ⌘C).');
  });

  // Delete a key, after confirming.
  const dialog = $('confirm');

  function confirmDelete(id, label, button) {
    pending = { id: id, label: label, button: button };
    $('confirm-key').textContent = label === id ? id : label + ' (' + id + ')';
    dialog.showModal();
    $('confirm-cancel').focus();
  }

  $('confirm-cancel').addEventListener('click', () => dialog.close('cancel'));

  dialog.addEventListener('close', () => {
    if (dialog.returnValue === 'delete' || !pending) return;
    const back = pending.button;
    pending = null;
    say('Nothing was deleted.', back);
  });

  $('confirm-delete').addEventListener('click', async () => {
    const p = pending;
    if (!p) return;
    dialog.close('delete');
    pending = null;
    say('Deleting the key ' + p.label + '…');
    const r = await call('DELETE', cfg.keysUrl + '/' + encodeURIComponent(p.id), authorization());
    if (r.status === 401) {
      expired();
      return;
    }
    if (r.status !== 204 && r.status !== 404) {
      fail(problem(r));
      return;
    }
    if ($('new-key-id').textContent === p.id) hideNewKey();
    if (!(await loadKeys())) return;
    say(r.status === 204
      ? 'The key ' + p.label + ' is deleted: its tokens no longer work.'
      : 'The key ' + p.label + ' was already gone.', status);
  });
})();
