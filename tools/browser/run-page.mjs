// Opens one page in headless Debian Chromium with fake media devices and waits until the
// page sets its title to DONE or FAIL; prints the page's JSON result (window.confabResult)
// on stdout. Usage: node run-page.mjs URL [--audio WAV] [--timeout SECONDS]
//   [--iframe HOST_URL]  load HOST_URL, then URL inside an <iframe allow="camera *; microphone *">
//                        (a different origin: the embedding case); the result is the frame's
//   [--insecure]         accept self-signed TLS certificates (tests of HTTPS)
import { chromium } from 'playwright-core';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const args = process.argv.slice(2);
const url = args[0];
const option = (name, fallback) => {
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1] : fallback;
};
const audio = option('--audio', null);
const video = option('--video', null);
const host = option('--iframe', null);
const timeoutMs = Number(option('--timeout', '60')) * 1000;
const executablePath = process.env.CHROMIUM ?? '/usr/lib/chromium/chromium';

const flags = [
  '--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync',
  '--use-fake-ui-for-media-stream', '--use-fake-device-for-media-stream',
  '--allow-loopback-in-peer-connection', '--autoplay-policy=no-user-gesture-required',
];
if (audio) flags.push(`--use-file-for-fake-audio-capture=${audio}`);
if (video) flags.push(`--use-file-for-fake-video-capture=${video}`);
if (args.includes('--insecure')) flags.push('--ignore-certificate-errors');

const profile = mkdtempSync(join(tmpdir(), 'confab-chromium-'));
let context;
let code = 1;
try {
  context = await chromium.launchPersistentContext(profile, {
    executablePath, headless: true, args: flags, ignoreDefaultArgs: ['--mute-audio'],
    ignoreHTTPSErrors: args.includes('--insecure'),
  });
  const page = context.pages()[0] ?? await context.newPage();
  page.on('console', (m) => process.stderr.write(`[page] ${m.text()}\n`));
  page.on('pageerror', (e) => process.stderr.write(`[page error] ${e}\n`));
  let target = page;
  if (host) {
    await page.goto(host);
    await page.setContent(`<iframe allow="camera *; microphone *; autoplay *; display-capture *" width="1000" height="800" src="${url}"></iframe>`);
    const frame = await (await page.waitForSelector('iframe')).contentFrame();
    if (!frame) throw new Error('no iframe content');
    target = frame;
  } else {
    await page.goto(url);
  }
  await target.waitForFunction(() => document.title === 'DONE' || document.title === 'FAIL', null, { timeout: timeoutMs });
  const title = await target.title();
  const result = await target.evaluate(() => window.confabResult ?? null);
  process.stdout.write(JSON.stringify({ title, result }) + '\n');
  code = title === 'DONE' ? 0 : 2;
  // Close the tab as a person would: the page's pagehide handler hangs up (a leave and a
  // clean close), so the call records a hang-up rather than a lost connection. A second
  // first: the other pages of a test finish their own measurements with this one present.
  await new Promise((r) => setTimeout(r, 1000));
  await page.close().catch(() => {});
} catch (e) {
  process.stderr.write(`run-page: ${e}\n`);
  code = 3;
} finally {
  if (context) await context.close().catch(() => {});
  rmSync(profile, { recursive: true, force: true });
}
process.exit(code);
