import path from 'node:path';
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';
import { api, eventually, FAST_FAILOVER, newDevice, newUser, ROOT, startCluster, startNodeProcess, uniqueName, WsClient, type NodeProc, type TestCluster } from '../support/helpers';

/**
 * Issue 12: the web client every node serves at `/`, driven in Debian's chromium through
 * playwright-core, against two real nodes. Everything is found by the data-testid contract of docs/WEB.md.
 */
// eslint-disable-next-line @typescript-eslint/no-require-imports
const infra = require('../../scripts/lib/infra') as { chromiumPath(): string | null };
const CHROMIUM = process.env.CHROMIUM_PATH || infra.chromiumPath();
const PASSWORD = 'correct horse battery';
/** The README's screenshot, taken by this test. */
const SCREENSHOT = path.join(ROOT, 'docs', 'web-client.png');

let cluster: TestCluster;
let browser: Browser;
const contexts: BrowserContext[] = [];
/** Uncaught errors in any page: each test ends with none. */
const pageErrors: string[] = [];
beforeAll(async () => {
  if (!CHROMIUM) throw new Error('chromium is not installed: npm test installs it (apt-get install -y chromium)');
  cluster = await startCluster(2, { ...FAST_FAILOVER, CHAT_CHAT_MAX_CONTENT_CHARS: '500' });
  browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox', '--disable-dev-shm-usage'] });
});
afterEach(async () => {
  await Promise.all(contexts.splice(0).map((c) => c.close()));
  expect(pageErrors.splice(0)).toEqual([]);
});
afterAll(async () => {
  await browser?.close();
  await cluster?.stop();
});

/** A person: their own browser profile (its localStorage), with a tab on `node`. */
async function person(node: NodeProc, viewport = { width: 1000, height: 640 }, username = uniqueName('web')): Promise<{ ctx: BrowserContext; page: Page; username: string }> {
  const ctx = await browser.newContext({ viewport });
  contexts.push(ctx);
  const page = await ctx.newPage();
  page.on('pageerror', (err) => pageErrors.push(String(err)));
  await page.goto(`${node.url}/`);
  await page.getByTestId('auth-username').fill(username);
  await page.getByTestId('auth-password').fill(PASSWORD);
  await page.getByTestId('auth-signup').click();
  await connected(page);
  expect(await page.getByTestId('me').textContent()).toBe(username);
  return { ctx, page, username };
}

async function connected(page: Page): Promise<void> {
  await page.locator('[data-testid=connection-status][data-state=connected]').waitFor({ timeout: 15000 });
}

async function openDm(page: Page, username: string): Promise<void> {
  await page.getByTestId('start-dm-username').fill(username);
  await page.getByTestId('start-dm-submit').click();
  await page.getByTestId('message-list').waitFor();
}

async function openConversation(page: Page, title: string): Promise<void> {
  await page.locator('[data-testid=conversation-item]', { has: page.locator(`[data-testid=conversation-title]:text-is("${title}")`) }).click();
  await page.getByTestId('message-list').waitFor();
}

/** Sends with Enter and waits for the ack (the message gets its id and `sent`). */
async function say(page: Page, text: string): Promise<void> {
  await page.getByTestId('composer-input').fill(text);
  await page.getByTestId('composer-input').press('Enter');
  await page.locator('[data-testid=message][data-status=sent]', { hasText: text }).waitFor();
}

/** The text messages of the open conversation, in DOM order. */
async function texts(page: Page): Promise<string[]> {
  return page.locator('[data-testid=message]:not([data-type=system]) [data-testid=message-content]').allTextContents();
}

async function unread(page: Page, title: string): Promise<string> {
  const item = page.locator('[data-testid=conversation-item]', { has: page.locator(`[data-testid=conversation-title]:text-is("${title}")`) });
  const badge = item.getByTestId('conversation-unread');
  return (await badge.count()) ? (await badge.textContent()) ?? '' : '0';
}

describe('web client', () => {
  it('two people on two nodes: a DM both ways, typing, the unread badge, read receipts; the screenshot', async () => {
    // Plain names for the screenshot: the run's keyspace is its own, and no other test uses them.
    const alice = await person(cluster.nodes[0], undefined, 'alice');
    const bob = await person(cluster.nodes[1], undefined, 'bob');

    await openDm(alice.page, bob.username);
    await say(alice.page, 'Hi Bob, this is Alice');
    // Bob is not looking at it: the list shows it with an unread badge.
    await eventually(async () => (await unread(bob.page, alice.username)) === '1');
    await say(alice.page, 'Are you there?');
    await eventually(async () => (await unread(bob.page, alice.username)) === '2');
    await openConversation(bob.page, alice.username);
    await eventually(async () => (await unread(bob.page, alice.username)) === '0');
    expect(await texts(bob.page)).toEqual(['Hi Bob, this is Alice', 'Are you there?']);
    expect(await bob.page.locator('[data-testid=message] [data-testid=message-sender]').allTextContents()).toEqual([alice.username, alice.username]);
    // Bob read them: Alice's messages show it.
    await alice.page.locator('[data-testid=message][data-read=true]', { hasText: 'Are you there?' }).waitFor();

    // Typing shows on the other side while Bob types, with his name.
    await bob.page.getByTestId('composer-input').pressSequentially('Yes, here', { delay: 30 });
    await alice.page.locator('[data-testid=typing-indicator]:visible', { hasText: bob.username }).waitFor();
    await bob.page.getByTestId('composer-send').click();
    await bob.page.locator('[data-testid=message][data-status=sent]', { hasText: 'Yes, here' }).waitFor();
    await eventually(async () => (await texts(alice.page)).length === 3);
    expect(await texts(alice.page)).toEqual(['Hi Bob, this is Alice', 'Are you there?', 'Yes, here']);
    // The DM header shows the peer's presence.
    expect(await alice.page.getByTestId('presence').getAttribute('data-status')).toBe('online');
    await say(alice.page, 'Great, the web client works across both nodes');
    await eventually(async () => (await texts(bob.page)).length === 4);
    // Each side holds the same ids in the same order.
    const ids = (p: Page) => p.locator('[data-testid=message]').evaluateAll((els) => els.map((e) => e.getAttribute('data-message-id')));
    expect(await ids(alice.page)).toEqual(await ids(bob.page));
    await alice.page.screenshot({ path: SCREENSHOT });
  });

  it('a reload keeps the session and shows the history; a closed tab catches up in order when reopened', async () => {
    const alice = await person(cluster.nodes[0]);
    const bob = await person(cluster.nodes[1]);
    await openDm(alice.page, bob.username);
    await say(alice.page, 'before reload');
    await eventually(async () => (await unread(bob.page, alice.username)) === '1');

    await bob.page.reload();
    await connected(bob.page);
    expect(await bob.page.getByTestId('me').textContent()).toBe(bob.username);
    await openConversation(bob.page, alice.username);
    await eventually(async () => (await texts(bob.page)).length === 1);
    expect(await texts(bob.page)).toEqual(['before reload']);

    // Bob closes his tab; Alice sends three; Bob opens the app again (same browser profile).
    await bob.page.close();
    for (const t of ['one', 'two', 'three']) await say(alice.page, t);
    const again = await bob.ctx.newPage();
    await again.goto(`${cluster.nodes[1].url}/`);
    await connected(again);
    await eventually(async () => (await unread(again, alice.username)) === '3');
    await openConversation(again, alice.username);
    await eventually(async () => (await texts(again)).length === 4);
    expect(await texts(again)).toEqual(['before reload', 'one', 'two', 'three']);
  });

  it('sends a reload interrupted go out again with their clientMsgId: one the server stored is not doubled, one it never got is not lost', async () => {
    const alice = await person(cluster.nodes[0]);
    const bob = await person(cluster.nodes[1]);
    await openDm(alice.page, bob.username);
    await say(alice.page, 'hello');
    const session = JSON.parse(await alice.page.evaluate('localStorage.getItem("streamchat.session")') as string) as { token: string; userId: string };
    const bobId = (await api(cluster.nodes[0].url, 'GET', `/api/users?username=${bob.username}`, { token: session.token })).body.userId as string;
    // The state a reload leaves when it comes after the server stored "stored" but before its ack
    // reached the page, and before "unsent" left the page at all.
    const ws = await WsClient.connect(cluster.nodes[0].wsUrl, session.token, await newDevice(cluster.nodes[0].url, { ...session, username: alice.username, password: PASSWORD }));
    try {
      await ws.synced();
      await ws.sendAll({ to: bobId }, ['stored']); // content: "content of stored"
    } finally {
      await ws.close();
    }
    const conversationId = `d_${[session.userId, bobId].sort().join('_')}`;
    const at = new Date().toISOString();
    const outbox = ['stored', 'unsent'].map((id) => ({ clientMsgId: id, conversationId, to: bobId, content: `content of ${id}`, createdAt: at }));
    await alice.page.evaluate(`localStorage.setItem("streamchat.outbox.${session.userId}", ${JSON.stringify(JSON.stringify(outbox))})`);
    await alice.page.reload();
    await connected(alice.page);
    await openConversation(alice.page, bob.username);
    const expected = ['hello', 'content of stored', 'content of unsent'];
    await eventually(async () => (await texts(alice.page)).length === 3 && (await alice.page.locator('[data-testid=message][data-status=pending]').count()) === 0);
    expect(await texts(alice.page)).toEqual(expected);
    expect(await alice.page.evaluate(`localStorage.getItem("streamchat.outbox.${session.userId}")`)).toBeNull();
    await openConversation(bob.page, alice.username);
    await eventually(async () => (await texts(bob.page)).length === 3);
    expect(await texts(bob.page)).toEqual(expected);
  });

  it('a new device sees only the newest page, and scrolling up loads the older ones', async () => {
    const bob = await person(cluster.nodes[1]);
    // Alice is a program: 71 messages to Bob. Then Bob opens the app in a fresh browser (a new
    // device: its catch-up starts at the present, so the history comes from REST pages).
    const alice = await newUser(cluster.nodes[0].url);
    const bobId = (await api(cluster.nodes[0].url, 'GET', `/api/users?username=${bob.username}`, { token: alice.token })).body.userId;
    const ws = await WsClient.connect(cluster.nodes[0].wsUrl, alice.token, await newDevice(cluster.nodes[0].url, alice));
    const all = Array.from({ length: 71 }, (_, i) => `content of page ${i + 1}`);
    try {
      await ws.synced();
      await ws.sendAll({ to: bobId }, all.map((_, i) => `page ${i + 1}`)); // content: `content of <clientMsgId>`
    } finally {
      await ws.close();
    }
    const fresh = await browser.newContext({ viewport: { width: 1000, height: 640 } });
    contexts.push(fresh);
    const page = await fresh.newPage();
    page.on('pageerror', (err) => pageErrors.push(String(err)));
    await page.goto(`${cluster.nodes[0].url}/`);
    await page.getByTestId('auth-username').fill(bob.username);
    await page.getByTestId('auth-password').fill(PASSWORD);
    await page.getByTestId('auth-login').click();
    await connected(page);
    await openConversation(page, alice.username);
    await eventually(async () => (await texts(page)).length === 30);
    expect(await texts(page)).toEqual(all.slice(-30));
    const list = page.getByTestId('message-list');
    await list.evaluate((el) => { el.scrollTop = 0; });
    await eventually(async () => (await texts(page)).length === 60);
    expect(await texts(page)).toEqual(all.slice(-60));
    await list.evaluate((el) => { el.scrollTop = 0; });
    await eventually(async () => (await texts(page)).length === 71);
    expect(await texts(page)).toEqual(all);
  });

  it('a group of three: created by usernames, everyone sees everyone, in the same order', async () => {
    const alice = await person(cluster.nodes[0]);
    const bob = await person(cluster.nodes[1]);
    const carol = await person(cluster.nodes[0]);
    const name = `trio ${uniqueName('g')}`;
    await alice.page.locator('details.new-group summary').click();
    await alice.page.getByTestId('new-group-name').fill(name);
    await alice.page.getByTestId('new-group-members').fill(`${bob.username}, ${carol.username}`);
    await alice.page.getByTestId('new-group-submit').click();
    await alice.page.getByTestId('message-list').waitFor();
    await say(alice.page, 'welcome both');
    for (const p of [bob, carol]) {
      // Unread as the server counts it: the group's creation and the welcome.
      await eventually(async () => (await unread(p.page, name)) === '2');
      await openConversation(p.page, name);
    }
    await say(bob.page, 'hi from bob');
    await eventually(async () => (await texts(carol.page)).length === 2);
    await say(carol.page, 'hi from carol');
    const expected = ['welcome both', 'hi from bob', 'hi from carol'];
    const senders = [alice.username, bob.username, carol.username];
    for (const p of [alice, bob, carol]) {
      await eventually(async () => (await texts(p.page)).length === 3);
      expect(await texts(p.page)).toEqual(expected);
      expect(await p.page.locator('[data-testid=message]:not([data-type=system]) [data-testid=message-sender]').allTextContents()).toEqual(senders);
    }
    // The creation shows as a system line, and the members are listed by name.
    expect(await alice.page.locator('[data-testid=message][data-type=system]').first().textContent()).toContain('created the group');
    await bob.page.getByTestId('group-members-toggle').click();
    expect((await bob.page.getByTestId('group-member').allTextContents()).join(' ')).toContain(carol.username);
  });

  it('a refused send shows failed with a retry; a wrong password shows the auth error; logout returns to sign-in', async () => {
    const alice = await person(cluster.nodes[0]);
    const bob = await person(cluster.nodes[1]);
    await openDm(alice.page, bob.username);
    await alice.page.getByTestId('composer-input').fill('x'.repeat(501)); // over chat.maxContentChars (500 here)
    await alice.page.getByTestId('composer-send').click();
    await alice.page.locator('[data-testid=message][data-status=failed]').waitFor();
    expect(await alice.page.getByTestId('message-retry').count()).toBe(1);
    expect(await alice.page.locator('[data-testid=message]').first().getAttribute('data-message-id')).toBeNull();

    await alice.page.getByTestId('logout').click();
    await alice.page.getByTestId('auth-username').waitFor();
    await alice.page.getByTestId('auth-username').fill(alice.username);
    await alice.page.getByTestId('auth-password').fill('not the password');
    await alice.page.getByTestId('auth-login').click();
    await alice.page.locator('[data-testid=auth-error]:visible').waitFor();
    expect(await alice.page.getByTestId('auth-error').textContent()).toMatch(/\S/);
    await alice.page.getByTestId('auth-password').fill(PASSWORD);
    await alice.page.getByTestId('auth-login').click();
    await connected(alice.page);
  });

  it('fits a phone: one pane at a time, no sideways scrolling', async () => {
    const alice = await person(cluster.nodes[0], { width: 390, height: 780 });
    const bob = await person(cluster.nodes[1]);
    await openDm(alice.page, bob.username);
    expect(await alice.page.getByTestId('start-dm-username').isVisible()).toBe(false);
    await say(alice.page, 'from my phone');
    expect(await alice.page.evaluate('document.documentElement.scrollWidth')).toBeLessThanOrEqual(390);
    await alice.page.getByTestId('back').click();
    expect(await alice.page.getByTestId('start-dm-username').isVisible()).toBe(true);
    expect(await alice.page.getByTestId('conversation-item').count()).toBe(1);
  });

  it('a node restart while both are connected loses nothing and doubles nothing', async () => {
    const alice = await person(cluster.nodes[0]);
    const bob = await person(cluster.nodes[1]);
    await openDm(alice.page, bob.username);
    await say(alice.page, 'before the restart');
    await eventually(async () => (await unread(bob.page, alice.username)) === '1');
    await openConversation(bob.page, alice.username);

    // The node Alice's socket is on dies (discovery picked it; it may hold Bob's too); both keep
    // typing; it comes back on its port.
    const nodeUrl = await alice.page.getByTestId('connection-status').getAttribute('data-node-url');
    const index = cluster.nodes.findIndex((n) => n.wsUrl === nodeUrl);
    expect(index).toBeGreaterThanOrEqual(0);
    const victim = cluster.nodes[index];
    victim.proc.kill('SIGKILL');
    await victim.exited;
    await alice.page.locator('[data-testid=connection-status]:not([data-state=connected])').waitFor();
    for (const t of ['a1', 'a2', 'a3']) {
      await alice.page.getByTestId('composer-input').fill(t);
      await alice.page.getByTestId('composer-input').press('Enter');
    }
    for (const t of ['b1', 'b2', 'b3']) {
      await bob.page.getByTestId('composer-input').fill(t);
      await bob.page.getByTestId('composer-input').press('Enter');
    }
    const restarted = await startNodeProcess({ ...FAST_FAILOVER, CHAT_CHAT_MAX_CONTENT_CHARS: '500', CHAT_REDIS_KEY_PREFIX: cluster.prefix }, victim.port);
    cluster.nodes[index] = restarted;

    const all = ['before the restart', 'a1', 'a2', 'a3', 'b1', 'b2', 'b3'];
    for (const p of [alice.page, bob.page]) {
      await connected(p);
      await eventually(async () => (await texts(p)).length === all.length && (await p.locator('[data-testid=message][data-status=pending]').count()) === 0, 30000);
      expect([...(await texts(p))].sort()).toEqual([...all].sort());
      // Each side's own sends keep their order.
      const own = (await texts(p)).filter((t) => /^[ab]\d$/.test(t) && t.startsWith(p === alice.page ? 'a' : 'b'));
      expect(own).toEqual(p === alice.page ? ['a1', 'a2', 'a3'] : ['b1', 'b2', 'b3']);
    }
    const ids = (p: Page) => p.locator('[data-testid=message]').evaluateAll((els) => els.map((e) => e.getAttribute('data-message-id')));
    expect(await ids(alice.page)).toEqual(await ids(bob.page));
    expect(new Set(await ids(alice.page)).size).toBe(all.length);
  });
});
