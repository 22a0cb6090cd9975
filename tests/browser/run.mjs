// Drives the built-in chat page in Debian's chromium, one scenario per run.
//
//   node run.mjs --scenario send --url http://127.0.0.1:PORT/ --screenshots DIR
//
// Started by the `browser` module of the `api` test binary (cargo test),
// which runs the servers and the fake model and checks the database
// afterwards. Exits non-zero with a message when the scenario fails; page
// errors and Content-Security-Policy violations fail it too.

import { existsSync, mkdirSync } from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { chromium } from 'playwright-core';

const { values: args } = parseArgs({
  options: {
    scenario: { type: 'string' },
    url: { type: 'string' },
    screenshots: { type: 'string', default: 'target/browser-screenshots' },
    'docs-screenshot': { type: 'string' },
  },
});

const CHROMIUM = process.env.CHROMIUM_PATH || '/usr/bin/chromium';
const TIMEOUT = 15_000;

function assert(condition, message) {
  if (!condition) throw new Error(`assertion failed: ${message}`);
}

async function launch() {
  if (!existsSync(CHROMIUM)) throw new Error(`no chromium at ${CHROMIUM}: run scripts/test (or apt-get install chromium)`);
  return chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: [
      '--no-sandbox',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-default-apps',
      '--disable-sync',
      '--no-first-run',
      '--disable-dev-shm-usage',
    ],
  });
}

/** Every page opened, for the report of a failure. */
const openPages = [];

/** A page that records errors, CSP violations and dialogs. */
async function openPage(browser, url, { viewport = { width: 1100, height: 760 }, colorScheme = 'light' } = {}) {
  const context = await browser.newContext({ viewport, colorScheme });
  const page = await context.newPage();
  page.setDefaultTimeout(TIMEOUT);
  page.problems = [];
  page.dialogs = [];
  page.on('pageerror', (error) => page.problems.push(`page error: ${error.message}`));
  page.on('console', (msg) => {
    const text = msg.text();
    if (/Content Security Policy|Refused to/i.test(text)) page.problems.push(`CSP: ${text}`);
  });
  page.on('dialog', async (dialog) => {
    page.dialogs.push(`${dialog.type()}: ${dialog.message()}`);
    await dialog.dismiss();
  });
  await page.goto(url);
  await page.waitForSelector('html[data-ready="true"]');
  openPages.push(page);
  return { context, page };
}

/**
 * Polls `fn` in the page until it returns a truthy value. (Playwright's
 * waitForFunction evaluates a string, which the page's CSP forbids.)
 */
async function waitFor(page, fn, arg, what = String(fn)) {
  const deadline = Date.now() + TIMEOUT;
  for (;;) {
    const value = await page.evaluate(fn, arg);
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}

async function setUser(page, user) {
  await page.click('#open-settings');
  await page.fill('#settings-user', user);
  await page.click('#settings-form button[type="submit"]');
  await page.waitForSelector('#settings-dialog', { state: 'hidden' });
}

/** Types and sends a message with the keyboard (Enter). */
async function send(page, text) {
  await page.fill('#input', text);
  await page.press('#input', 'Enter');
}

const assistant = (page) => page.locator('.item-assistant_message .assistant-text');
const userBubbles = (page) => page.locator('.item-user_message .user-text');

async function waitForAnswer(page, count = 1) {
  await waitFor(
    page,
    (n) => document.querySelectorAll('.item-assistant_message').length >= n && !document.getElementById('app').classList.contains('is-streaming'),
    count,
    `${count} finished answer(s)`,
  );
}

async function shot(page, name) {
  mkdirSync(args.screenshots, { recursive: true });
  await page.screenshot({ path: path.join(args.screenshots, `${name}.png`) });
}

function checkClean(page) {
  assert(page.problems.length === 0, `no page errors or CSP violations, got:\n${page.problems.join('\n')}`);
  assert(page.dialogs.length === 0, `no dialogs, got: ${page.dialogs.join(', ')}`);
}

const scenarios = {
  // Send with Enter; the answer streams in (seen mid-way), then is complete.
  async send(browser) {
    const { page } = await openPage(browser, args.url);
    await page.waitForSelector('#thread-list-status:has-text("No conversations yet.")');
    await send(page, 'Hello browser');
    await page.waitForSelector('#thinking:not([hidden])');
    await page.waitForSelector('.item-assistant_message .assistant.streaming');
    const partial = await assistant(page).first().textContent();
    await waitForAnswer(page);
    const full = await assistant(page).first().textContent();
    assert(full.startsWith('echo: Hello browser'), `answer text: ${full}`);
    assert(full.includes('tok5'), `whole answer: ${full}`);
    assert(partial.length < full.length, `seen while streaming (${partial.length} < ${full.length} chars)`);
    assert(await page.isHidden('#thinking'), 'thinking indicator gone');
    assert((await userBubbles(page).first().textContent()) === 'Hello browser', 'user text shown');
    await page.waitForSelector('.thread-link.active');
    assert(/#thr_/.test(page.url()), `thread id in the URL: ${page.url()}`);
    // A second message in the same thread, sent with the button.
    await page.fill('#input', 'And a list:\n- one\n- **two**');
    await page.click('#send');
    await waitForAnswer(page, 2);
    assert((await page.locator('.thread-link').count()) === 1, 'still one thread');
    assert((await page.locator('.item-assistant_message strong').count()) >= 1, 'markdown rendered');
    checkClean(page);
    await shot(page, 'send');
    if (args['docs-screenshot']) await page.screenshot({ path: args['docs-screenshot'] });
  },

  // Esc mid-stream: the partial answer stays, and is there after a reload.
  async stop(browser) {
    const { page } = await openPage(browser, args.url);
    await send(page, 'Please stop me');
    await waitFor(page, () => /echo: Please stop me/.test(document.querySelector('.item-assistant_message')?.textContent || ''), null, 'the first tokens');
    assert(await page.isVisible('#stop'), 'stop button while streaming');
    await page.keyboard.press('Escape');
    await page.waitForSelector('.stopped');
    assert(await page.isVisible('#send'), 'send button back');
    const shown = await assistant(page).first().textContent();
    assert(!shown.includes('tok29'), `stopped before the end: ${shown}`);
    const url = page.url();
    // Give the server a moment to notice and store the partial answer.
    await page.waitForTimeout(500);
    await page.goto(url);
    await page.reload();
    await page.waitForSelector('.item-assistant_message');
    const stored = await assistant(page).first().textContent();
    assert(stored.startsWith('echo: Please stop me'), `partial answer persisted: ${stored}`);
    assert(!stored.includes('tok29'), `only the partial answer: ${stored}`);
    checkClean(page);
    await shot(page, 'stop');
  },

  // Retry from the user message: one new answer replaces the old one.
  async retry(browser) {
    const { page } = await openPage(browser, args.url);
    await send(page, 'Try again');
    await waitForAnswer(page);
    await page.click('.item-user_message [data-action="retry"]');
    await page.waitForSelector('#app.is-streaming', { state: 'attached' }).catch(() => {});
    await waitForAnswer(page);
    assert((await page.locator('.item-assistant_message').count()) === 1, 'one answer after the retry');
    assert((await page.locator('.item-user_message').count()) === 1, 'the user message kept');
    await page.reload();
    await page.waitForSelector('.item-assistant_message');
    assert((await page.locator('.item-assistant_message').count()) === 1, 'one answer stored');
    checkClean(page);
    await shot(page, 'retry');
  },

  // Rename through the dialog; the header and the list follow, and it sticks.
  async rename(browser) {
    const { page } = await openPage(browser, args.url);
    await send(page, 'Name me');
    await waitForAnswer(page);
    await page.click('#rename-thread');
    await page.fill('#rename-input', 'Renamed in the browser');
    await page.click('#rename-form button[type="submit"]');
    await page.waitForSelector('#thread-title:has-text("Renamed in the browser")');
    await page.waitForSelector('.thread-link.active:has-text("Renamed in the browser")');
    await page.reload();
    await page.waitForSelector('#thread-title:has-text("Renamed in the browser")');
    await page.waitForSelector('.thread-link:has-text("Renamed in the browser")');
    checkClean(page);
    await shot(page, 'rename');
  },

  // Delete after confirming: gone from the list, also after a reload.
  async delete(browser) {
    const { page } = await openPage(browser, args.url);
    await send(page, 'Keep me');
    await waitForAnswer(page);
    await page.click('#new-thread');
    await send(page, 'Delete me');
    await waitForAnswer(page);
    await waitFor(page, () => document.querySelectorAll('.thread-link').length === 2, null, 'two threads');
    await page.click('#delete-thread');
    await page.click('#delete-confirm');
    await waitFor(page, () => document.querySelectorAll('.thread-link').length === 1, null, 'one thread');
    assert(await page.isVisible('#empty'), 'back to an empty conversation');
    await page.reload();
    await waitFor(page, () => document.querySelectorAll('.thread-link').length === 1, null, 'one thread');
    await page.click('.thread-link');
    await page.waitForSelector('.item-user_message');
    assert((await userBubbles(page).first().textContent()) === 'Keep me', 'the other thread is intact');
    checkClean(page);
    await shot(page, 'delete');
  },

  // Thumbs up: sent as items.feedback and shown as chosen.
  async feedback(browser) {
    const { page } = await openPage(browser, args.url);
    await send(page, 'Rate me');
    await waitForAnswer(page);
    await page.click('.item-assistant_message [data-action="feedback-positive"]');
    await page.waitForSelector('.item-assistant_message [data-action="feedback-positive"][aria-pressed="true"]');
    await page.waitForSelector('.toast:has-text("Thanks for the feedback")');
    checkClean(page);
    await shot(page, 'feedback');
  },

  // The model fails once: an error with a Retry button, which then works.
  async error(browser) {
    const { page } = await openPage(browser, args.url);
    await send(page, 'Fail first');
    await page.waitForSelector('.stream-error');
    assert(await page.isHidden('#thinking'), 'no thinking indicator after the error');
    await shot(page, 'error');
    await page.click('.stream-error [data-action="retry-error"]');
    await waitForAnswer(page);
    assert((await page.locator('.stream-error').count()) === 0, 'error cleared by the retry');
    const text = await assistant(page).first().textContent();
    assert(text.startsWith('echo: Fail first'), `answer after the retry: ${text}`);
    checkClean(page);
  },

  // Markup in user and model text stays text.
  async xss(browser) {
    const { page } = await openPage(browser, args.url);
    const payload = '<script>window.pwned = 1; alert(1)</script> <img src=x onerror="window.pwned = 2; alert(2)"> [click](javascript:alert(3))';
    await send(page, payload);
    await waitForAnswer(page);
    await page.waitForTimeout(300);
    const user = await userBubbles(page).first().textContent();
    assert(user === payload, `user text shown literally: ${user}`);
    const answer = await assistant(page).first().textContent();
    assert(answer.includes('<script>window.pwned = 1; alert(1)</script>'), `model text literal: ${answer}`);
    assert(answer.includes('<img src=x onerror='), `model img literal: ${answer}`);
    const injected = await page.evaluate(() => ({
      global: window.pwned,
      scripts: document.querySelectorAll('#items script').length,
      images: document.querySelectorAll('#items img').length,
      jsLinks: [...document.querySelectorAll('#items a')].filter((a) => !/^https?:/.test(a.href)).length,
    }));
    assert(injected.global === undefined, `no global set (${injected.global})`);
    assert(injected.scripts === 0 && injected.images === 0 && injected.jsLinks === 0, `no elements injected: ${JSON.stringify(injected)}`);
    // A reload renders the stored items the same way.
    await page.reload();
    await page.waitForSelector('.item-assistant_message');
    await page.waitForTimeout(200);
    assert((await page.evaluate(() => window.pwned)) === undefined, 'still no global after reload');
    assert((await page.locator('#items img').count()) === 0, 'still no images after reload');
    checkClean(page);
    await shot(page, 'xss');
  },

  // Two users in two browser contexts never see each other's threads.
  async two_users(browser) {
    const ann = await openPage(browser, args.url);
    const bob = await openPage(browser, args.url);
    await setUser(ann.page, 'ann');
    await setUser(bob.page, 'bob');
    await send(ann.page, 'Ann only');
    await waitForAnswer(ann.page);
    await send(bob.page, 'Bob only');
    await waitForAnswer(bob.page);
    const annThread = ann.page.url().split('#')[1];
    for (const { page } of [ann, bob]) await page.reload();
    await ann.page.waitForSelector('.thread-link');
    await bob.page.waitForSelector('.thread-link');
    await ann.page.waitForTimeout(300);
    const annList = await ann.page.locator('.thread-list').textContent();
    const bobList = await bob.page.locator('.thread-list').textContent();
    assert((await ann.page.locator('.thread-link').count()) === 1, `ann sees one thread: ${annList}`);
    assert((await bob.page.locator('.thread-link').count()) === 1, `bob sees one thread: ${bobList}`);
    assert(!(await ann.page.locator('#items').textContent()).includes('Bob only'), 'ann does not see bob');
    // Bob opening Ann's thread by its URL gets nothing of it.
    await bob.page.goto(`${args.url.replace(/#.*$/, '')}#${annThread}`);
    await bob.page.waitForSelector('.toast:has-text("does not exist")');
    assert(!(await bob.page.locator('#items').textContent()).includes('Ann only'), 'bob does not see ann');
    for (const { page } of [ann, bob]) checkClean(page);
    await shot(bob.page, 'two_users');
  },
};

// Widgets and their actions, structured input (a custom responder).
scenarios.widgets = async (browser) => {
  const { page } = await openPage(browser, args.url);
  await send(page, 'widget');
  await page.waitForSelector('.w-card .w-title:has-text("Draft email")');
  await page.waitForSelector('.w-card .w-badge:has-text("Draft")');
  await page.click('.w-card .w-button:has-text("Send")');
  await page.waitForSelector('.w-card .w-badge:has-text("Sent")');
  await page.waitForSelector('.notice:has-text("Sent draft")');
  assert((await page.locator('.w-card').count()) === 1, 'the widget was replaced in place');
  await send(page, 'ask');
  await page.waitForSelector('.structured-input legend:has-text("Priority?")');
  await page.check('.structured-input input[value="High"]');
  await page.fill('.structured-input input[name="notes"]', 'by Friday');
  await page.click('.structured-input button[type="submit"]');
  await waitFor(page, () => /Thanks:/.test(document.querySelector('#items')?.textContent || ''), null, 'the answer to the questions');
  const thanks = await page.locator('.item-assistant_message').last().textContent();
  assert(thanks.includes('High') && thanks.includes('by Friday'), `answers sent: ${thanks}`);
  await page.waitForSelector('.structured-input :text("Answered.")');
  checkClean(page);
  await shot(page, 'widgets');
};

// A client tool answered by the page's registry, reasoning as a
// collapsible workflow, an attachment, and the title arriving live.
scenarios.assistant = async (browser) => {
  const { page } = await openPage(browser, args.url);
  await page.evaluate(() => window.chatkitTools.register('pick_color', (args) => ({ color: 'teal', asked: args })));
  await page.setInputFiles('#file-input', { name: 'notes.txt', mimeType: 'text/plain', buffer: Buffer.from('remember the milk') });
  await page.waitForSelector('.chip-ready:has-text("notes.txt")');
  await send(page, 'choose a color');
  await waitFor(page, () => /teal/.test(document.querySelector('.item-assistant_message:last-child')?.textContent || '') && !document.getElementById('app').classList.contains('is-streaming'), null, 'the answer after the tool output');
  await page.waitForSelector('.item-client_tool_call:has-text("pick_color")');
  await page.waitForSelector('.item-client_tool_call :text("tool done")');
  await page.waitForSelector('.item-user_message .file-chip:has-text("notes.txt")');
  assert((await page.locator('.attachment-chips li').count()) === 0, 'chips cleared after sending');
  // Reasoning is a collapsed workflow that opens on click.
  const workflow = page.locator('details.workflow').first();
  await workflow.locator('summary').click();
  assert(await workflow.evaluate((d) => d.open), 'workflow opens');
  await waitFor(page, () => document.getElementById('thread-title').textContent !== 'New conversation', null, 'a title (thread.updated)');
  checkClean(page);
  await shot(page, 'assistant');
};

// The thread list pages as it scrolls (threads.list with a cursor).
scenarios.many_threads = async (browser) => {
  const { page } = await openPage(browser, args.url, { viewport: { width: 1000, height: 600 } });
  await page.waitForSelector('.thread-link');
  const first = await page.locator('.thread-link').count();
  assert(first < 45, `one page first (${first})`);
  for (let i = 0; i < 20 && (await page.locator('.thread-link').count()) < 45; i += 1) {
    await page.locator('#thread-list-wrap').evaluate((el) => el.scrollTo(0, el.scrollHeight));
    await page.waitForTimeout(100);
  }
  assert((await page.locator('.thread-link').count()) === 45, 'every thread listed once');
  const titles = await page.locator('.thread-link-title').allTextContents();
  assert(titles[0] === 'thread 44' && titles[44] === 'thread 0', `newest first: ${titles[0]} … ${titles[44]}`);
  // Narrow screens: the list is a drawer behind the menu button.
  await page.setViewportSize({ width: 390, height: 700 });
  await page.waitForTimeout(300);
  const drawer = await page.locator('#sidebar').boundingBox();
  assert(drawer.x + drawer.width <= 1, `the list is off screen (${JSON.stringify(drawer)})`);
  await page.click('#toggle-sidebar');
  await page.waitForSelector('#toggle-sidebar[aria-expanded="true"]');
  await page.click('.thread-link >> nth=3');
  await page.waitForSelector('#toggle-sidebar[aria-expanded="false"]');
  await page.waitForSelector('#thread-title:has-text("thread 41")');
  checkClean(page);
  await shot(page, 'many_threads');
};

// A long thread opens at its newest messages; older ones load on scroll.
scenarios.long_thread = async (browser) => {
  const { page } = await openPage(browser, args.url, { colorScheme: 'dark' });
  await page.click('.thread-link');
  await page.waitForSelector('.item-user_message');
  const first = await page.locator('.item-user_message').count();
  assert(first < 25, `one page first (${first} questions)`);
  assert((await userBubbles(page).last().textContent()) === 'question 24', 'the newest message is shown');
  for (let i = 0; i < 20 && (await page.locator('.item-user_message').count()) < 25; i += 1) {
    await page.locator('#messages').evaluate((el) => el.scrollTo(0, 0));
    await page.waitForTimeout(100);
  }
  const questions = await userBubbles(page).allTextContents();
  assert(questions.length === 25, `every message once (${questions.length})`);
  assert(questions.every((q, i) => q === `question ${i}`), `in order: ${questions.join(', ')}`);
  assert(await page.isHidden('#load-older'), 'nothing more to load');
  // The Markdown renderer on hostile input, in the page itself.
  const rendered = await page.evaluate(async () => {
    const { renderMarkdown } = await import(new URL('assets/markdown.js', document.querySelector('script[type=module]').src.replace(/assets\/app\.js$/, '')).href);
    const div = document.createElement('div');
    div.append(renderMarkdown([
      '# Title <b>x</b>',
      '[a](javascript:alert(1)) [b](data:text/html,<script>alert(1)</script>) [c](https://example.com/x "t")',
      '**bold _and em_** `<code>` ~~gone~~ http://example.org/path.',
      '```html', '<script>alert(1)</script>', '```',
      '- one', '- two', '1. first', '2. second', '> quoted', '---',
    ].join('\n')));
    return {
      links: [...div.querySelectorAll('a')].map((a) => a.getAttribute('href')),
      tags: [...div.querySelectorAll('*')].map((e) => e.tagName.toLowerCase()).sort().filter((t, i, all) => all.indexOf(t) === i),
      code: div.querySelector('pre code')?.textContent,
      heading: div.querySelector('h3')?.textContent,
    };
  });
  assert(JSON.stringify(rendered.links) === JSON.stringify(['https://example.com/x', 'http://example.org/path']), `only http(s) links: ${rendered.links}`);
  assert(rendered.code === '<script>alert(1)</script>', `code kept as text: ${rendered.code}`);
  assert(rendered.heading === 'Title <b>x</b>', `heading text: ${rendered.heading}`);
  const allowed = ['a', 'blockquote', 'br', 'code', 'del', 'em', 'h3', 'hr', 'li', 'ol', 'p', 'pre', 'strong', 'ul'];
  assert(rendered.tags.every((t) => allowed.includes(t)), `only Markdown elements: ${rendered.tags}`);
  assert(['blockquote', 'del', 'em', 'hr', 'ol', 'pre', 'strong', 'ul'].every((t) => rendered.tags.includes(t)), `every block and span: ${rendered.tags}`);
  checkClean(page);
  await shot(page, 'long_thread');
};

const run = scenarios[args.scenario];
if (!run || !args.url) {
  console.error(`usage: node run.mjs --scenario <${Object.keys(scenarios).join('|')}> --url <page url> [--screenshots dir]`);
  process.exit(2);
}
const browser = await launch();
try {
  await run(browser);
  console.log(`browser scenario ${args.scenario}: ok`);
} catch (error) {
  console.error(`browser scenario ${args.scenario} failed: ${error.stack || error}`);
  process.exitCode = 1;
  for (const [n, page] of openPages.entries()) {
    const name = `${args.scenario}-failed${n ? `-${n + 1}` : ''}`;
    await shot(page, name).catch(() => {});
    const text = await page.locator('#items').textContent().catch(() => '?');
    console.error(`page ${n + 1} (${page.url()}), screenshot ${name}.png:\n  problems: ${page.problems.join('; ') || 'none'}\n  conversation: ${text}`);
  }
} finally {
  await browser.close();
}
