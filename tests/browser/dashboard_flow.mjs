#!/usr/bin/env node
// Drives the broker's ops dashboard in Debian's Chromium (headless, through playwright-core):
// signs in with a staff client certificate, waits for a live session of --user, ends it from the
// page and checks that its row goes away.
//
//   node dashboard_flow.mjs --url https://127.0.0.1:PORT/ --cert staff/client.crt --key staff/client.key
//        --ca staff/broker-ca.crt --user alice --screenshot OUT.png [--timeout-ms 30000] [--go-file PATH]
//
// --go-file: after session_seen, wait until PATH exists before ending the session (the test says
// when the session is fully up on the desktop, so ending it has something to log off).
//
// stdout, one line per step:
//   page_loaded role=ROLE      whoami is shown and the live status is "live"
//   session_seen id=N          a session row of --user is on the page (OUT.png is taken now)
//   session_gone id=N          after End session + confirm, the row went away (OUT-after.png)
//   screenshot path=OUT.png
//   screenshot path=OUT-after.png
// Exit 0 when all went well. Otherwise a message on stderr ("dashboard_flow: ...") and exit 1
// (2 for bad arguments), at the latest --timeout-ms after the start. It also fails on any request
// of the page to another origin than the broker's, on any console error or page error, and on any
// error answer of the broker.
//
// Trusting the broker CA: with clientCertificates, Playwright does not let Chromium talk TLS to the
// broker itself. Chromium talks to a local proxy inside this Node process, which makes the real TLS
// connection (presenting the client certificate) with Node's tls module and verifies the broker's
// certificate against Node's CA store (rejectUnauthorized unless ignoreHTTPSErrors). Node reads extra
// CAs only at start (NODE_EXTRA_CA_CERTS), so this script starts itself again with
// NODE_EXTRA_CA_CERTS=--ca. Before the browser starts, it also checks the broker's certificate against
// --ca alone (no system roots), name included. ignoreHTTPSErrors is never set.
import {spawn} from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import tls from 'node:tls';

const CHILD_MARK = 'SDBOX_DASHBOARD_FLOW_CHILD';
const CHROMIUM = '/usr/bin/chromium';
const CHROMIUM_ARGS = [
  '--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync',
];
const END_REASON = 'ended from the ops dashboard';
const USAGE = 'usage: node dashboard_flow.mjs --url https://HOST:PORT/ --cert CRT --key KEY --ca CA_CRT '
  + '--user LOGIN --screenshot OUT.png [--timeout-ms 30000] [--go-file PATH]';

function usageError(message) {
  process.stderr.write(`dashboard_flow: ${message}\n${USAGE}\n`);
  process.exit(2);
}

function parseArguments(argv) {
  const known = new Set(['url', 'cert', 'key', 'ca', 'user', 'screenshot', 'timeout-ms', 'go-file']);
  const options = {};
  for (let i = 0; i < argv.length; i += 2) {
    const flag = argv[i];
    if (flag === '--help' || flag === '-h') {
      process.stdout.write(`${USAGE}\n`);
      process.exit(0);
    }
    if (!flag.startsWith('--') || !known.has(flag.slice(2))) usageError(`unknown argument '${flag}'`);
    if (i + 1 >= argv.length) usageError(`${flag} needs a value`);
    options[flag.slice(2)] = argv[i + 1];
  }
  for (const required of ['url', 'cert', 'key', 'ca', 'user', 'screenshot']) {
    if (!options[required]) usageError(`--${required} is required`);
  }
  const timeoutMs = options['timeout-ms'] === undefined ? 30000 : Number(options['timeout-ms']);
  if (!Number.isInteger(timeoutMs) || timeoutMs <= 0) usageError('--timeout-ms must be a positive integer');
  let url;
  try {
    url = new URL(options.url);
  } catch {
    usageError(`--url '${options.url}' is not a URL`);
  }
  if (url.protocol !== 'https:') usageError('--url must be https://');
  const screenshot = path.resolve(options.screenshot);
  const parsed = path.parse(screenshot);
  const after = parsed.ext.toLowerCase() === '.png'
    ? path.join(parsed.dir, `${parsed.name}-after${parsed.ext}`)
    : `${screenshot}-after.png`;
  return {
    url: url.href,
    origin: url.origin,
    host: url.hostname.replace(/^\[|\]$/g, ''),
    port: Number(url.port || 443),
    cert: path.resolve(options.cert),
    key: path.resolve(options.key),
    ca: path.resolve(options.ca),
    user: options.user,
    screenshot,
    screenshotAfter: after,
    timeoutMs,
    goFile: options['go-file'] ? path.resolve(options['go-file']) : null,
  };
}

function readPem(file, what) {
  try {
    return fs.readFileSync(file);
  } catch (error) {
    usageError(`cannot read ${what} ${file}: ${error.message}`);
  }
  return null;
}

const options = parseArguments(process.argv.slice(2));
const caPem = readPem(options.ca, 'the broker CA');
const certPem = readPem(options.cert, 'the client certificate');
const keyPem = readPem(options.key, 'the client key');
try {
  const ca = new crypto.X509Certificate(caPem);
  if (!ca.ca) usageError(`${options.ca} is not a CA certificate`);
  new crypto.X509Certificate(certPem);
  crypto.createPrivateKey(keyPem);
} catch (error) {
  usageError(`bad certificate or key: ${error.message}`);
}

// ---- parent: start again with the broker CA in Node's trust store --------------------------

if (process.env[CHILD_MARK] !== '1' || process.env.NODE_EXTRA_CA_CERTS !== options.ca) {
  const child = spawn(process.execPath, [...process.execArgv, ...process.argv.slice(1)], {
    stdio: 'inherit',
    env: {...process.env, [CHILD_MARK]: '1', NODE_EXTRA_CA_CERTS: options.ca},
  });
  const forward = (signal) => child.kill(signal);
  process.on('SIGINT', forward);
  process.on('SIGTERM', forward);
  // The child keeps its own deadline; this is only a backstop should it ever hang.
  const backstop = setTimeout(() => {
    process.stderr.write(`dashboard_flow: timed out after ${options.timeoutMs} ms (the driver did not stop)\n`);
    child.kill('SIGTERM');
    setTimeout(() => child.kill('SIGKILL'), 3000).unref();
    process.exitCode = 1;
  }, options.timeoutMs + 8000);
  child.on('exit', (code, signal) => {
    clearTimeout(backstop);
    if (signal) process.stderr.write(`dashboard_flow: driver ended by ${signal}\n`);
    process.exit(process.exitCode || (signal ? 1 : (code ?? 1)));
  });
  child.on('error', (error) => {
    process.stderr.write(`dashboard_flow: cannot start node: ${error.message}\n`);
    process.exit(1);
  });
} else {
  await runFlow();
}

// ---- child: the flow ---------------------------------------------------------------------

async function runFlow() {
  const started = Date.now();
  const deadline = started + options.timeoutMs;
  const remaining = () => Math.max(1, deadline - Date.now());
  let step = 'starting';
  let browser = null;
  let closing = false;
  let failure = null;
  let rejectFailure;
  const failed = new Promise((_, reject) => {
    rejectFailure = reject;
  });
  failed.catch(() => {});

  const fail = (message) => {
    if (failure === null && !closing) {
      failure = new Error(message);
      rejectFailure(failure);
    }
  };
  const guard = (promise) => Promise.race([promise, failed]);

  const finish = async (code, message) => {
    if (closing) return new Promise(() => {}); // the first caller ends the process
    closing = true;
    clearTimeout(watchdog);
    if (message) process.stderr.write(`dashboard_flow: ${message}\n`);
    if (browser) {
      await Promise.race([browser.close().catch(() => {}), new Promise((resolve) => setTimeout(resolve, 3000))]);
    }
    process.exit(code);
  };
  const watchdog = setTimeout(() => {
    finish(1, `timed out after ${options.timeoutMs} ms while ${step}`);
  }, options.timeoutMs);

  try {
    step = 'checking the broker certificate against --ca';
    await guard(checkBrokerCertificate(remaining()));

    step = 'loading playwright-core';
    let chromium;
    try {
      ({chromium} = await import('playwright-core'));
    } catch (error) {
      throw new Error(`cannot load playwright-core (run npm ci in tests/browser): ${error.message}`);
    }

    step = `launching ${CHROMIUM}`;
    browser = await guard(chromium.launch({executablePath: CHROMIUM, headless: true, args: CHROMIUM_ARGS, timeout: remaining()}));
    const context = await guard(browser.newContext({
      viewport: {width: 1280, height: 800},
      clientCertificates: [{origin: options.origin, certPath: options.cert, keyPath: options.key}],
      ignoreHTTPSErrors: false,
      serviceWorkers: 'block',
    }));

    context.on('request', (request) => {
      const url = request.url();
      if (url.startsWith('data:') || url.startsWith('blob:') || url === 'about:blank') return;
      let origin = null;
      try {
        origin = new URL(url).origin;
      } catch {
        // an address that does not parse is foreign too
      }
      if (origin !== options.origin) fail(`the page made a request to another origin: ${request.method()} ${url}`);
    });
    context.on('response', async (response) => {
      if (response.status() < 400) return;
      const body = await bodyText(response);
      fail(`the broker answered ${response.status()} to ${response.request().method()} ${response.url()}${body ? `: ${body}` : ''}`);
    });
    context.on('requestfailed', (request) => {
      fail(`request failed: ${request.method()} ${request.url()}: ${request.failure()?.errorText ?? 'unknown error'}`);
    });

    const page = await guard(context.newPage());
    page.on('console', (message) => {
      if (message.type() !== 'error') return;
      // An error answer is reported by the response listener above, with its URL and body.
      if (/^Failed to load resource: the server responded with a status of \d+/.test(message.text())) return;
      fail(`console error on the page: ${message.text()}`);
    });
    page.on('pageerror', (error) => fail(`uncaught error on the page: ${error.message}`));

    step = `opening ${options.url}`;
    const response = await guard(page.goto(options.url, {waitUntil: 'domcontentloaded', timeout: remaining()}));
    if (!response || !response.ok()) {
      throw new Error(`opening ${options.url} answered ${response ? `${response.status()}: ${await bodyText(response)}` : 'nothing'}`);
    }

    step = 'waiting for whoami and a live status';
    const roleHandle = await guard(page.waitForFunction(() => {
      const who = document.querySelector('[data-testid="whoami"]');
      const live = document.querySelector('[data-testid="live-status"]');
      const role = who && who.getAttribute('data-role');
      return role && who.textContent.trim() !== '' && live && live.textContent.trim() === 'live' ? role : null;
    }, null, {timeout: remaining()}));
    const role = await roleHandle.jsonValue();
    console.log(`page_loaded role=${role}`);

    step = `waiting for a session row of user ${options.user}`;
    const idHandle = await guard(page.waitForFunction((user) => {
      for (const row of document.querySelectorAll('[data-testid="sessions"] tbody tr[data-session-id]')) {
        const cell = row.querySelector('[data-field="user"]');
        if (cell && cell.textContent === user) return row.getAttribute('data-session-id');
      }
      return null;
    }, options.user, {timeout: remaining()}));
    const id = await idHandle.jsonValue();
    console.log(`session_seen id=${id}`);

    step = 'taking the first screenshot';
    await guard(page.screenshot({path: options.screenshot, fullPage: true, timeout: remaining()}));

    if (options.goFile) {
      step = `waiting for ${options.goFile}`;
      while (!fs.existsSync(options.goFile)) {
        if (remaining() <= 0) throw new Error(`${options.goFile} never appeared`);
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
    }

    step = `ending session ${id}`;
    const row = page.locator(`[data-testid="sessions"] tbody tr[data-session-id="${cssString(id)}"]`);
    const endButton = row.locator('button[data-action="end-session"]');
    if (await guard(endButton.count()) === 0) {
      throw new Error(`no End session button for session ${id} (role ${role}; auditors have none)`);
    }
    await guard(endButton.click({timeout: remaining()}));
    const confirmButton = row.locator('button[data-action="confirm-end"]');
    await guard(confirmButton.waitFor({state: 'visible', timeout: remaining()}));
    const endAnswer = page.waitForResponse(
      (answer) => answer.request().method() === 'POST' && new URL(answer.url()).pathname === `/api/v1/sessions/${encodeURIComponent(id)}/end`,
      {timeout: remaining()});
    endAnswer.catch(() => {});
    await guard(confirmButton.click({timeout: remaining()}));
    const answer = await guard(endAnswer);
    const request = answer.request();
    const contentType = await guard(request.headerValue('content-type'));
    if (!contentType || !contentType.startsWith('application/json')) {
      throw new Error(`the end request was sent with Content-Type ${contentType ?? '(none)'}`);
    }
    let sent = null;
    try {
      sent = request.postDataJSON();
    } catch {
      // checked below
    }
    if (!sent || Object.keys(sent).length !== 1 || sent.reason !== END_REASON) {
      throw new Error(`the end request's body was ${request.postData()}`);
    }
    if (answer.status() !== 200) throw new Error(`ending session ${id} answered ${answer.status()}: ${await bodyText(answer)}`);

    step = `waiting for the row of session ${id} to go away`;
    await guard(row.waitFor({state: 'detached', timeout: remaining()}));
    console.log(`session_gone id=${id}`);

    const errors = await guard(page.locator('[data-testid="messages"] [data-kind="error"]').allTextContents());
    if (errors.length > 0) throw new Error(`the page shows an error: ${errors.join(' | ')}`);

    step = 'taking the second screenshot';
    await guard(page.screenshot({path: options.screenshotAfter, fullPage: true, timeout: remaining()}));
    console.log(`screenshot path=${options.screenshot}`);
    console.log(`screenshot path=${options.screenshotAfter}`);
    await finish(0);
  } catch (error) {
    const message = failure ? failure.message
      : error.name === 'TimeoutError' ? `timed out after ${options.timeoutMs} ms while ${step}`
        : `${step}: ${error.message.split('\n')[0]}`;
    await finish(1, message);
  }
}

// The start of an answer's body, as one line of text (the broker's JSON error, or Playwright's
// own error page when its TLS connection to the broker failed).
async function bodyText(response) {
  try {
    return (await response.text()).replace(/<[^>]*>/g, ' ').replace(/\s+/g, ' ').trim().slice(0, 300);
  } catch {
    return '';
  }
}

// Escapes a value for a double-quoted CSS attribute selector.
function cssString(value) {
  return String(value).replace(/["\\]/g, '\\$&');
}

// The broker's certificate must chain to --ca alone (no system roots) and name the host.
function checkBrokerCertificate(timeoutMs) {
  return new Promise((resolve, reject) => {
    const socket = tls.connect({
      host: options.host,
      port: options.port,
      servername: net.isIP(options.host) ? undefined : options.host,
      ca: [caPem],
      cert: certPem,
      key: keyPem,
      rejectUnauthorized: true,
      ALPNProtocols: ['http/1.1'],
    }, () => {
      socket.end();
      resolve();
    });
    socket.setTimeout(timeoutMs, () => {
      socket.destroy();
      reject(new Error(`no TLS handshake with ${options.host}:${options.port} within ${timeoutMs} ms`));
    });
    socket.on('error', (error) => {
      const detail = error.code ? `${error.code}: ${error.message}` : error.message;
      reject(new Error(`TLS to ${options.host}:${options.port} with --ca ${options.ca} failed (${detail})`));
    });
  });
}
