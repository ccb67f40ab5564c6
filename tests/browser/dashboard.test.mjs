// Drives the operators' dashboard of a real `superapp run` node in headless Debian chromium:
// refused inputs, a crash from the page that the supervisor repairs, the audit log, a screenshot.
//
// SUPERAPP_BIN   the superapp binary (required)
// ARTIFACTS_DIR  where dashboard.png and node.log go (default: $TMPDIR/superapp-dashboard-artifacts)
// CHROMIUM       the browser (default /usr/bin/chromium)
// KEEP_DATA=1    keep the node's data dir for a look after the run
import {spawn, execFile, spawnSync} from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import {setTimeout as sleep} from 'node:timers/promises';

const test_budget_ms = 150_000;      // ctest gives 180 s; normally the run takes well under 60 s
const node_start_timeout_ms = 30_000;
const ui_timeout_ms = 15_000;
const crash_repair_timeout_ms = 15_000;
const ping_timeout_ms = 10_000;

const bin = process.env.SUPERAPP_BIN;
const artifacts_dir = process.env.ARTIFACTS_DIR || path.join(os.tmpdir(), 'superapp-dashboard-artifacts');
const chromium_path = process.env.CHROMIUM || '/usr/bin/chromium';

function fail(message) {
  throw new Error(message);
}

function check(condition, message) {
  if (!condition) fail(message);
}

const started_ms = Date.now();
function log(message) {
  const s = ((Date.now() - started_ms) / 1000).toFixed(1).padStart(5);
  console.log(`[${s}s] ${message}`);
}

// ---- the node --------------------------------------------------------------------------------

async function start_node(data_dir) {
  const log_path = path.join(artifacts_dir, 'node.log');
  const out = fs.openSync(log_path, 'w');
  const child = spawn(bin, ['run', '--data-dir', data_dir], {
    env: {...process.env, SUPERAPP_ADMIN_PORT: '0', SUPERAPP_GATEWAY_PORT: '0'},
    stdio: ['ignore', out, out],
    detached: true,  // its own process group: the kill at the end reaches whatever it started
  });
  fs.closeSync(out);
  let exited = null;
  child.on('exit', (code, signal) => { exited = {code, signal}; });
  const node_file = path.join(data_dir, 'node.json');
  const deadline = Date.now() + node_start_timeout_ms;
  for (;;) {
    if (exited) {
      fail(`superapp run exited early (code ${exited.code}, signal ${exited.signal}); see ${log_path}`);
    }
    if (fs.existsSync(node_file)) {
      try {
        const info = JSON.parse(fs.readFileSync(node_file, 'utf8'));
        if (info.admin_url) return {child, info, log_path, exited: () => exited};
      } catch { /* written but not complete yet */ }
    }
    if (Date.now() > deadline) fail(`no ${node_file} within ${node_start_timeout_ms} ms; see ${log_path}`);
    await sleep(100);
  }
}

async function stop_node(node) {
  if (!node || node.exited()) return;
  const signal_group = (signal) => {
    try { process.kill(-node.child.pid, signal); } catch { /* already gone */ }
  };
  signal_group('SIGTERM');
  for (let i = 0; i < 50 && !node.exited(); i++) await sleep(100);
  if (!node.exited()) {
    log('superapp run did not stop within 5 s of SIGTERM; SIGKILL');
    signal_group('SIGKILL');
    for (let i = 0; i < 20 && !node.exited(); i++) await sleep(100);
  }
}

function read_password(data_dir) {
  const file = path.join(data_dir, 'dashboard-password');
  check(fs.existsSync(file), `superapp run wrote no ${file}`);
  const password = fs.readFileSync(file, 'utf8').split('\n')[0].trim();
  check(password.length > 0, `${file} is empty`);
  return password;
}

function add_viewer(data_dir, name, password) {
  const r = spawnSync(bin, ['admin', 'operator', 'add', name, '--role', 'viewer', '--password-stdin',
                            '--data-dir', data_dir],
                      {input: password + '\n', encoding: 'utf8', timeout: 15_000});
  check(r.status === 0,
        `superapp admin operator add ${name} failed (exit ${r.status}): ${r.stderr || r.stdout}`);
}

// One `superapp client ... identity.ping`: resolves to {code, out}.
function ping(data_dir) {
  return new Promise((resolve) => {
    execFile(bin, ['client', '--data-dir', data_dir, '--dev-token', 'op', 'identity.ping'],
             {timeout: ping_timeout_ms, encoding: 'utf8'},
             (error, stdout, stderr) => resolve({code: error ? (error.code ?? 'timeout') : 0,
                                                 out: (stdout + stderr).trim()}));
  });
}

async function expect_pings(data_dir, count, when) {
  for (let i = 0; i < count; i++) {
    const r = await ping(data_dir);
    check(r.code === 0, `identity.ping ${when} (${i + 1} of ${count}) failed with exit ${r.code}: ${r.out}`);
  }
}

// ---- the page --------------------------------------------------------------------------------

const row_selector = (p) => `tr[data-path="${p}"]`;

async function log_in(page, name, password) {
  await page.locator('#login-form').waitFor({state: 'visible', timeout: ui_timeout_ms});
  await page.fill('#login-name', name);
  await page.fill('#login-password', password);
  const [response] = await Promise.all([
    page.waitForResponse((r) => r.url().endsWith('/dashboard/api/login'), {timeout: ui_timeout_ms}),
    page.click('#login-submit'),
  ]);
  return response;
}

// Waits until the text of `selector` is `expected`; fails naming `what` and what is there instead.
async function wait_text(page, selector, expected, what) {
  try {
    await page.waitForFunction(({selector, expected}) =>
        document.querySelector(selector)?.textContent.trim() === expected, {selector, expected});
  } catch {
    const now = await page.locator(selector).textContent().catch(() => null);
    fail(`${what}: expected "${expected}" in ${selector}, found "${now?.trim()}"`);
  }
}

async function response_error(response) {
  try { return (await response.json()).error ?? {}; } catch { return {}; }
}

// Clicks `button`, confirms in our dialog and returns the POST /dashboard/api/action response.
async function act_through_dialog(page, button, expect_in_dialog) {
  await button.click();
  const dialog = page.locator('#confirm-dialog');
  await dialog.waitFor({state: 'visible', timeout: ui_timeout_ms});
  const text = await dialog.textContent();
  for (const s of expect_in_dialog) check(text.includes(s), `the confirm dialog does not name "${s}": ${text}`);
  const [response] = await Promise.all([
    page.waitForResponse((r) => r.url().endsWith('/dashboard/api/action') && r.request().method() === 'POST',
                         {timeout: ui_timeout_ms}),
    dialog.locator('[data-confirm="yes"]').click(),
  ]);
  await dialog.waitFor({state: 'hidden', timeout: ui_timeout_ms});
  return response;
}

// The text of the status banner once it shows an outcome: kind 'ok' (role status) or 'error'
// (role alert), not the "Sending…" note before the answer.
async function banner_text(page, kind) {
  const role = kind === 'error' ? 'alert' : 'status';
  const banner = page.locator(`#status-banner[data-kind="${kind}"][role="${role}"]`);
  try {
    await banner.waitFor({state: 'visible', timeout: ui_timeout_ms});
  } catch {
    const now = await page.locator('#status-banner').textContent().catch(() => null);
    fail(`the status banner shows no ${kind} outcome (role ${role}); it says "${now?.trim()}"`);
  }
  return (await banner.locator('#status-text').textContent()).trim();
}

// POST /dashboard/api/action from inside the page (its cookie), with or without the CSRF header.
function post_action_from_page(page, body, with_csrf) {
  return page.evaluate(async ({body, with_csrf}) => {
    const headers = {'Content-Type': 'application/json'};
    if (with_csrf) {
      const session = await (await fetch('/dashboard/api/session')).json();
      headers['X-CSRF-Token'] = session.csrf;
    }
    const r = await fetch('/dashboard/api/action', {method: 'POST', headers, body: JSON.stringify(body)});
    let json = null;
    try { json = await r.json(); } catch { /* not JSON */ }
    return {status: r.status, json};
  }, {body, with_csrf});
}

async function cell(page, p, field) {
  return (await page.locator(`${row_selector(p)} [data-field="${field}"]`).first().textContent()).trim();
}

async function restarts_of(page, p) {
  const n = Number((await cell(page, p, 'restarts')).replace(/,/g, ''));
  check(Number.isInteger(n), `the restarts cell of ${p} is not a number`);
  return n;
}

// ---- the test --------------------------------------------------------------------------------

async function run(ctx) {
  const data_dir = ctx.data_dir;
  ctx.node = await start_node(data_dir);
  const info = ctx.node.info;
  check(typeof info.dashboard_url === 'string' && info.dashboard_url.endsWith('/dashboard/'),
        `node.json has no dashboard_url ending in /dashboard/: ${JSON.stringify(info)}`);
  check(typeof info.name === 'string' && info.name, `node.json has no name: ${JSON.stringify(info)}`);
  const node_name = info.name;
  log(`node ${node_name} up, dashboard at ${info.dashboard_url}`);

  const admin_password = read_password(data_dir);
  const viewer_password = `viewer-${process.pid}-${Date.now()}`;
  add_viewer(data_dir, 'viewer1', viewer_password);
  log('viewer1 added');

  ctx.browser = await chromium.launch({executablePath: chromium_path, args: ['--no-sandbox'], headless: true});
  const new_page = async (label) => {
    const context = await ctx.browser.newContext({viewport: {width: 1280, height: 800}});
    const page = await context.newPage();
    page.setDefaultTimeout(ui_timeout_ms);
    page.on('pageerror', (e) => ctx.page_errors.push(`${label}: ${e.message}`));
    ctx.pages.push(page);
    return page;
  };

  // 1. A wrong password is refused and said so on the page.
  const anonymous = await new_page('wrong password');
  await anonymous.goto(info.dashboard_url);
  const wrong = await log_in(anonymous, 'admin', admin_password + '-wrong');
  check(wrong.status() === 401, `a wrong password got HTTP ${wrong.status()}, not 401`);
  const wrong_error = await response_error(wrong);
  check(wrong_error.code === 'unauthorized', `a wrong password got code ${wrong_error.code}, not unauthorized`);
  await anonymous.locator('#login-error').waitFor({state: 'visible'});
  const login_error = (await anonymous.locator('#login-error').textContent()).trim();
  check(/wrong operator name or password/i.test(login_error),
        `the log-in error on the page does not say what is wrong: "${login_error}"`);
  check(await anonymous.locator('#dashboard').isHidden(), 'the dashboard shows after a wrong password');
  log(`wrong password refused: "${login_error}"`);

  // 2. A viewer sees the tree; its action is refused by the server.
  const viewer = await new_page('viewer');
  await viewer.goto(info.dashboard_url);
  const viewer_login = await log_in(viewer, 'viewer1', viewer_password);
  check(viewer_login.status() === 200, `viewer1 could not log in: HTTP ${viewer_login.status()}`);
  await wait_text(viewer, '#who-role', 'viewer', 'the page does not show the viewer role');
  await viewer.locator(`[data-node="${node_name}"]`).waitFor({state: 'visible'});
  // The tree is there once identity's front door is (pinged below, so it must not be the target).
  await viewer.locator(row_selector('root/identity/front_door')).waitFor({state: 'visible'});
  const domain = (await viewer.locator(row_selector('root/banking/front_door')).count()) ? 'banking' : 'kyc';
  const target = `root/${domain}/front_door`;
  const viewer_row = viewer.locator(row_selector(target));
  await viewer_row.waitFor({state: 'visible'});
  const viewer_crash = viewer_row.locator('[data-action="crash"]');
  check(await viewer_crash.isDisabled(), 'a viewer sees an enabled Crash button');
  check(/viewer/i.test((await viewer_crash.getAttribute('title')) || ''),
        'the disabled Crash button does not explain that viewers cannot act');
  await viewer_crash.evaluate((b) => { b.disabled = false; });
  const viewer_act = await act_through_dialog(viewer, viewer_crash, ['crash', node_name, target]);
  const viewer_error = await response_error(viewer_act);
  check(viewer_act.status() === 403 && viewer_error.code === 'forbidden',
        `a viewer's crash got HTTP ${viewer_act.status()} ${viewer_error.code}, not 403 forbidden`);
  check(/viewers cannot act/i.test(viewer_error.message || ''),
        `a viewer's refusal says "${viewer_error.message}", not "viewers cannot act"`);
  const viewer_banner = await banner_text(viewer, 'error');
  check(/forbidden/.test(viewer_banner) && /viewers cannot act/i.test(viewer_banner),
        `the page does not show the viewer's refusal: "${viewer_banner}"`);
  log(`viewer refused: "${viewer_banner}"`);
  await viewer.context().close();

  // 3. The operator: an unknown path and a forged POST are refused.
  const page = await new_page('operator');
  ctx.main_page = page;
  await page.goto(info.dashboard_url);
  const admin_login = await log_in(page, 'admin', admin_password);
  check(admin_login.status() === 200, `admin could not log in: HTTP ${admin_login.status()}`);
  await wait_text(page, '#who-role', 'operator', 'the page does not show the operator role');
  await wait_text(page, '#who-name', 'admin', 'the page does not show who is logged in');
  const row = page.locator(row_selector(target));
  await row.waitFor({state: 'visible'});
  // Every actor the platform spawns counts its messages: the front door shows a rate (at least
  // the monitor's own probe each second) once it has been sampled twice.
  await page.waitForFunction((sel) => {
    const text = document.querySelector(sel)?.querySelector('[data-field="messages_per_s"]')?.textContent.trim();
    return text && text !== '—' && Number.parseFloat(text) > 0;
  }, row_selector(target), {timeout: 10000})
      .catch(async () => fail(`${target} shows no messages per second (cell: ` +
                              `${await cell(page, target, 'messages_per_s')})`));
  log(`${target} handles ${await cell(page, target, 'messages_per_s')} messages/s`);

  const missing_path = `root/${domain}/no_such_actor`;
  const missing = await post_action_from_page(page, {action: 'restart', node: node_name, path: missing_path}, true);
  check(missing.status === 404 && missing.json?.error?.code === 'not_found',
        `an action on ${missing_path} got HTTP ${missing.status} ${JSON.stringify(missing.json)}, not 404 not_found`);
  log(`unknown path refused: ${missing.json.error.message}`);

  const forged = await post_action_from_page(page, {action: 'crash', node: node_name, path: target}, false);
  check(forged.status === 403 && forged.json?.error?.code === 'forbidden',
        `a POST without X-CSRF-Token got HTTP ${forged.status} ${JSON.stringify(forged.json)}, not 403 forbidden`);
  log(`POST without CSRF token refused: ${forged.json.error.message}`);

  // The banking card's reversal form reaches banking through its front door: an unknown
  // transfer is refused with banking's own code, shown in the page and audited.
  const bank_card = page.locator(`article.domain[data-domain="banking"]`).first();
  await bank_card.locator('[data-input="transfer_id"]').fill('tr_does_not_exist');
  await bank_card.locator('[data-input="reason"]').fill('browser test');
  const reversal = await act_through_dialog(page, bank_card.locator('[data-action="reverse"]'),
                                            ['reverse', node_name, 'tr_does_not_exist', 'browser test']);
  const reversal_error = await response_error(reversal);
  check(reversal.status() === 404 && reversal_error.code === 'transfer_not_found',
        `reversing an unknown transfer got HTTP ${reversal.status()} ${reversal_error.code}, not 404 transfer_not_found`);
  await page.waitForFunction(() => /transfer_not_found/.test(document.querySelector('#status-text')?.textContent || ''),
                             null, {timeout: ui_timeout_ms})
      .catch(async () => fail(`the page does not show the refused reversal: ` +
                              `"${(await page.locator('#status-text').textContent())?.trim()}"`));
  log(`reversal of an unknown transfer refused: ${reversal_error.message}`);

  // 4. Crash the front door from the page; its supervisor restarts it; identity keeps answering.
  await page.waitForFunction((sel) => {
    const r = document.querySelector(sel);
    return r && r.querySelector('[data-field="state"]').textContent.trim() === 'running';
  }, row_selector(target));
  const restarts_before = await restarts_of(page, target);
  const crash = await act_through_dialog(page, row.locator('[data-action="crash"]'), ['crash', node_name, target]);
  const crash_body = await crash.json().catch(() => null);
  check(crash.status() === 200 && crash_body?.ok === true,
        `the crash of ${target} got HTTP ${crash.status()} ${JSON.stringify(crash_body)}`);
  const crash_banner = await banner_text(page, 'ok');
  check(crash_banner.includes(crash_body.message ?? ''), `the banner does not show the result: "${crash_banner}"`);
  log(`crash sent: "${crash_banner}"`);

  await Promise.all([
    expect_pings(data_dir, 3, 'during the crash'),
    page.waitForFunction(({sel, before}) => {
      const r = document.querySelector(sel);
      if (!r) return false;
      const restarts = Number(r.querySelector('[data-field="restarts"]').textContent.replace(/,/g, ''));
      return restarts > before && r.querySelector('[data-field="state"]').textContent.trim() === 'running';
    }, {sel: row_selector(target), before: restarts_before}, {timeout: crash_repair_timeout_ms})
        .catch(async () => fail(`${target} did not come back running with more than ${restarts_before} ` +
                                `restarts within ${crash_repair_timeout_ms} ms (now: ` +
                                `${await cell(page, target, 'state')}, ${await cell(page, target, 'restarts')} restarts)`)),
  ]);
  log(`${target} restarted: ${await restarts_of(page, target)} restarts (was ${restarts_before}), running`);
  await expect_pings(data_dir, 2, 'after the crash');
  log('identity.ping answered during and after the crash');

  // 5. The audit log panel shows the crash, by admin.
  await page.waitForFunction((p) => [...document.querySelectorAll('#audit-log tbody tr')].some((tr) => {
    const f = (name) => tr.querySelector(`[data-field="${name}"]`)?.textContent.trim() ?? '';
    return f('operator').startsWith('admin') && f('action').startsWith('crash') && f('path') === p &&
           f('outcome') === 'done';
  }), target).catch(() => fail(`the audit log panel shows no crash of ${target} by admin`));
  log('audit log shows the crash by admin');

  // 6. A screenshot of the whole page, then log out.
  const shot = path.join(artifacts_dir, 'dashboard.png');
  await page.screenshot({path: shot, fullPage: true});
  log(`screenshot: ${shot}`);
  await page.click('#logout-button');
  await page.locator('#login-form').waitFor({state: 'visible'});
  check(await page.locator('#dashboard').isHidden(), 'the dashboard still shows after log-out');

  check(ctx.page_errors.length === 0, `the page threw: ${ctx.page_errors.join('; ')}`);
}

let chromium;

async function main() {
  try {
    ({chromium} = await import('playwright-core'));
  } catch {
    fail('playwright-core is not installed in tests/browser; run scripts/browser-setup');
  }
  if (!bin) fail('set SUPERAPP_BIN to the superapp binary');
  check(fs.existsSync(bin), `SUPERAPP_BIN ${bin} does not exist`);
  check(fs.existsSync(chromium_path), `no browser at ${chromium_path}; run scripts/browser-setup`);
  fs.mkdirSync(artifacts_dir, {recursive: true});
  const ctx = {data_dir: fs.mkdtempSync(path.join(os.tmpdir(), 'superapp-dashboard-')),
               node: null, browser: null, pages: [], page_errors: [], main_page: null};
  const budget = setTimeout(() => {
    console.error(`FAIL: the test took longer than ${test_budget_ms} ms`);
    if (ctx.node) try { process.kill(-ctx.node.child.pid, 'SIGKILL'); } catch { /* gone */ }
    process.exit(1);
  }, test_budget_ms);
  let failed = null;
  try {
    await run(ctx);
  } catch (e) {
    failed = e;
    const page = ctx.main_page || ctx.pages.at(-1);
    if (page && !page.isClosed()) {
      const shot = path.join(artifacts_dir, 'dashboard-failure.png');
      await page.screenshot({path: shot, fullPage: true}).then(() => console.error(`failure screenshot: ${shot}`),
                                                               () => {});
    }
  } finally {
    if (ctx.browser) await ctx.browser.close().catch(() => {});
    await stop_node(ctx.node);
    if (process.env.KEEP_DATA === '1') console.log(`data dir kept: ${ctx.data_dir}`);
    else fs.rmSync(ctx.data_dir, {recursive: true, force: true});
    clearTimeout(budget);
  }
  if (failed) {
    console.error(`FAIL: ${failed.message}`);
    if (ctx.node) console.error(`node log: ${ctx.node.log_path}`);
    process.exit(1);
  }
  log('PASS');
}

await main().catch((e) => {
  console.error(`FAIL: ${e.message}`);
  process.exit(1);
});
