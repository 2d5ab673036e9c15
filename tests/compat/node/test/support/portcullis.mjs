// Shared fixture of the Node compatibility suite, the twin of
// tests/compat/python/conftest.py: every test file that calls `portcullis()`
// gets a fresh `portcullis serve --listen 127.0.0.1:0 --data-dir <tmp>`, a
// merchant made with `portcullis merchant create --json` on the same data
// dir, and the official `stripe` library pointed at it. After the file's last
// test the server is stopped with SIGTERM and must exit with code 0.
//
// Environment:
//   PORTCULLIS_BIN                the binary (default target/release/portcullis,
//                                 relative to the current directory or else to
//                                 the repository root)
//   PORTCULLIS_COMPAT_KEEP_TMP    set to keep the data dir and the server log

import { after, before } from 'node:test';
import { spawn, execFile } from 'node:child_process';
import { accessSync, constants, createWriteStream, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, isAbsolute, join, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { randomUUID } from 'node:crypto';
import Stripe from 'stripe';

export { Stripe };

const REPO_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../../../../..');
const LISTENING = /portcullis listening on (http:\/\/127\.0\.0\.1:(\d+))/;
const START_TIMEOUT_MS = 30_000;
const STOP_TIMEOUT_MS = 20_000;
const CLI_TIMEOUT_MS = 60_000;

function isExecutable(path) {
  try {
    accessSync(path, constants.X_OK);
    return statSync(path).isFile();
  } catch {
    return false;
  }
}

/** The binary under test, resolved as conftest.py does. */
export function binary() {
  const named = process.env.PORTCULLIS_BIN || 'target/release/portcullis';
  const candidates = isAbsolute(named) ? [named] : [resolve(process.cwd(), named), resolve(REPO_ROOT, named)];
  const found = candidates.find(isExecutable);
  if (!found) {
    throw new Error(
      `portcullis binary not found: ${named} (looked at ${candidates.join(', ')}); ` +
        'build it with `cargo build --release -p portcullis` or set PORTCULLIS_BIN',
    );
  }
  return found;
}

/** The rate limits CI raises for this suite (it sends faster than the
 * default 100 requests/s per key on a quiet machine). */
const KEPT_SETTINGS = new Set(['PORTCULLIS_RATE_LIMIT_PER_KEY_PER_S', 'PORTCULLIS_RATE_LIMIT_PER_MERCHANT_PER_S']);

/** The environment without PORTCULLIS_* settings but the rate limits, so
 * that only the flags given here decide where data lives (no stray
 * database URL or config). */
function cleanEnv() {
  return Object.fromEntries(
    Object.entries(process.env).filter(([name]) => !name.startsWith('PORTCULLIS_') || KEPT_SETTINGS.has(name)),
  );
}

export class Server {
  constructor(bin, dataDir) {
    this.bin = bin;
    this.dataDir = dataDir;
    this.logPath = join(dirname(dataDir), 'server.log');
    this.stdoutLines = [];
    this.baseUrl = '';
    this.port = 0;
    this.process = null;
    this.exit = null; // {code, signal} once it has exited
  }

  async start() {
    const log = createWriteStream(this.logPath);
    await new Promise((ok, fail) => log.once('open', ok).once('error', fail));
    // Webhook receivers in these tests listen on 127.0.0.1, which the SSRF
    // guard refuses unless private targets are explicitly allowed.
    const args = ['serve', '--listen', '127.0.0.1:0', '--data-dir', this.dataDir, '--webhooks-allow-private-targets'];
    this.process = spawn(this.bin, args, {
      stdio: ['ignore', 'pipe', log],
      env: cleanEnv(),
    });
    this.exited = new Promise((ok) => {
      this.process.once('exit', (code, signal) => {
        this.exit = { code, signal };
        ok(this.exit);
      });
    });
    const spawnError = new Promise((_, fail) => this.process.once('error', fail));
    // Keeps draining stdout for the server's whole life so it never blocks.
    const lines = createInterface({ input: this.process.stdout });
    const listening = new Promise((ok) => {
      lines.on('line', (line) => {
        this.stdoutLines.push(line);
        const match = LISTENING.exec(line);
        if (match && !this.baseUrl) {
          this.baseUrl = match[1];
          this.port = Number(match[2]);
          ok();
        }
      });
    });
    let timer;
    const timeout = new Promise((ok) => {
      timer = setTimeout(ok, START_TIMEOUT_MS);
    });
    try {
      await Promise.race([listening, this.exited, timeout, spawnError]);
    } finally {
      clearTimeout(timer);
    }
    if (!this.baseUrl) {
      await this.stop({ check: false });
      throw new Error(
        `portcullis did not report its address within ${START_TIMEOUT_MS / 1000}s ` +
          `(exit: ${JSON.stringify(this.exit)}).\nstdout:\n${this.stdoutLines.join('\n')}\nstderr:\n${this.logTail()}`,
      );
    }
  }

  /** Runs `portcullis ARGS --data-dir <same>` and returns its stdout. */
  cli(...args) {
    return new Promise((ok, fail) => {
      execFile(
        this.bin,
        [...args, '--data-dir', this.dataDir],
        { env: cleanEnv(), timeout: CLI_TIMEOUT_MS, maxBuffer: 16 << 20 },
        (error, stdout, stderr) => {
          if (error) {
            fail(new Error(`portcullis ${args.join(' ')} failed (${error.code ?? error.signal}):\n${stdout}\n${stderr}`));
          } else {
            ok(stdout);
          }
        },
      );
    });
  }

  async createMerchant(name) {
    const out = await this.cli('merchant', 'create', '--name', name, '--json');
    const merchant = JSON.parse(out); // exactly one JSON object, nothing else
    for (const field of ['id', 'name', 'secret_key', 'publishable_key']) {
      if (!(field in merchant)) {
        throw new Error(`merchant create --json gave no ${field}: ${out}`);
      }
    }
    return merchant;
  }

  logTail(lines = 60) {
    try {
      return readFileSync(this.logPath, 'utf8').split('\n').slice(-lines).join('\n');
    } catch {
      return '(no log)';
    }
  }

  /** SIGTERM, then wait; with `check`, anything but a clean exit 0 throws. */
  async stop({ check = true } = {}) {
    if (!this.process) {
      return null;
    }
    if (!this.exit) {
      this.process.kill('SIGTERM');
      let timer;
      const timedOut = await Promise.race([
        this.exited.then(() => false),
        new Promise((ok) => {
          timer = setTimeout(() => ok(true), STOP_TIMEOUT_MS);
        }),
      ]);
      clearTimeout(timer);
      if (timedOut) {
        this.process.kill('SIGKILL');
        await this.exited;
        if (check) {
          throw new Error(`portcullis ignored SIGTERM for ${STOP_TIMEOUT_MS / 1000}s:\n${this.logTail()}`);
        }
      }
    }
    const { code, signal } = this.exit;
    if (check && code !== 0) {
      throw new Error(
        `portcullis exited with code ${code}${signal ? ` (signal ${signal})` : ''} on SIGTERM, ` +
          `or it died earlier:\n${this.logTail()}`,
      );
    }
    return code;
  }
}

/** The library as a merchant would set it up, pointed at `port` on 127.0.0.1. */
export function makeClient(key, port, config = {}) {
  return new Stripe(key, {
    host: '127.0.0.1',
    port,
    protocol: 'http',
    maxNetworkRetries: 0, // no silent retries: a 5xx or a dropped connection fails the test
    ...config,
  });
}

/**
 * Registers before/after hooks for the calling test file and returns its
 * context: `ctx.server`, `ctx.merchant` (the default merchant), `ctx.stripe`
 * (a client with its secret key), `ctx.client(key, config)`,
 * `ctx.newMerchant(name)` and `ctx.api(method, path, {key, params})` for raw
 * HTTP where the library has no method.
 */
export function portcullis() {
  const ctx = {
    server: null,
    merchant: null,
    stripe: null,
    tmp: null,
    get port() {
      return this.server.port;
    },
    get baseUrl() {
      return this.server.baseUrl;
    },
    client(key, config) {
      return makeClient(key, this.server.port, config);
    },
    /** Another, empty merchant, for tests that need to see every object. */
    async newMerchant(name = 'Isolated') {
      const merchant = await this.server.createMerchant(`${name} ${randomUUID().slice(0, 8)}`);
      return { ...merchant, stripe: this.client(merchant.secret_key) };
    },
    async api(method, path, { key = this.merchant.secret_key, body } = {}) {
      const response = await fetch(`${this.server.baseUrl}${path}`, {
        method,
        headers: {
          Authorization: `Bearer ${key}`,
          ...(body ? { 'Content-Type': 'application/x-www-form-urlencoded' } : {}),
        },
        body,
      });
      const text = await response.text();
      let json = null;
      try {
        json = JSON.parse(text);
      } catch {
        // not JSON: left as text
      }
      return { status: response.status, headers: response.headers, text, json };
    },
  };

  before(async () => {
    ctx.tmp = mkdtempSync(join(tmpdir(), 'portcullis-compat-node-'));
    ctx.server = new Server(binary(), join(ctx.tmp, 'data'));
    await ctx.server.start();
    ctx.merchant = await ctx.server.createMerchant('Compat Suite (node)');
    ctx.stripe = ctx.client(ctx.merchant.secret_key);
  });

  after(async () => {
    try {
      if (ctx.server) {
        await ctx.server.stop(); // checks that SIGTERM stops it cleanly, with exit code 0
      }
    } finally {
      if (ctx.server) {
        await ctx.server.stop({ check: false });
      }
      if (ctx.tmp) {
        if (process.env.PORTCULLIS_COMPAT_KEEP_TMP) {
          console.log(`kept ${ctx.tmp}`);
        } else {
          rmSync(ctx.tmp, { recursive: true, force: true });
        }
      }
    }
  });

  return ctx;
}

/** A short unique token for emails and names, so tests never collide. */
export function unique() {
  return randomUUID().replaceAll('-', '').slice(0, 12);
}

/** Runs `fn` and returns the error it throws (or rejects with); fails if none. */
export async function caught(fn) {
  try {
    await fn();
  } catch (error) {
    return error;
  }
  throw new Error('expected an error, but the call succeeded');
}

export const VISA = '4242424242424242';
export const MASTERCARD = '5555555555554444';
export const REFUND_PENDING = '4000000000007726';
export const EXP_YEAR = 2034;

export function card(number, extra = {}) {
  return { number, exp_month: 12, exp_year: EXP_YEAR, cvc: '123', ...extra };
}

/** A new card payment method, through the library. */
export function newCard(stripe, number = VISA, extra = {}) {
  return stripe.paymentMethods.create({ type: 'card', card: card(number, extra) });
}

/** A succeeded, automatically captured intent. */
export async function paidIntent(stripe, { amount = 1000, number = VISA, ...params } = {}) {
  const method = await newCard(stripe, number);
  const intent = await stripe.paymentIntents.create({
    amount,
    currency: 'usd',
    payment_method: method.id,
    confirm: true,
    ...params,
  });
  if (intent.status !== 'succeeded') {
    throw new Error(`expected a succeeded intent, got ${JSON.stringify(intent)}`);
  }
  return intent;
}

/** Collects an auto-paginating list with `for await`. */
export async function collect(iterable) {
  const out = [];
  for await (const item of iterable) {
    out.push(item);
  }
  return out;
}
