import { execFile } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { ROOT, startCluster, type TestCluster } from '../support/helpers';

/**
 * The README's "Client SDK" example, run exactly as written (as a new user would: a script that
 * requires `@streamchat/client`, the built workspace package) against real nodes.
 */

/** The first ```js block of the README's "Client SDK" section. */
export function readmeExample(): string {
  const readme = fs.readFileSync(path.join(ROOT, 'README.md'), 'utf8');
  const section = readme.slice(readme.indexOf('\n## Client SDK\n'));
  const m = /```js\n([\s\S]*?)```/.exec(section);
  if (!m || !readme.includes('\n## Client SDK\n')) throw new Error('README has no "Client SDK" section with a js example');
  return m[1];
}

describe('README Client SDK example', () => {
  let cluster: TestCluster;
  beforeAll(async () => { cluster = await startCluster(2); });
  afterAll(async () => { await cluster.stop(); });

  it('runs as written and prints what it says', async () => {
    const code = readmeExample();
    expect(code.split("\n").filter((l) => l.trim()).length).toBeLessThanOrEqual(18);
    // Inside the repository, so `require('@streamchat/client')` resolves like in an app that installed it.
    const dir = path.join(ROOT, '.local', 'readme-example');
    fs.mkdirSync(dir, { recursive: true });
    const file = path.join(dir, `example-${process.pid}.js`);
    fs.writeFileSync(file, code);
    try {
      const { stdout } = await new Promise<{ stdout: string; stderr: string }>((resolve, reject) => {
        execFile(process.execPath, [file], { env: { ...process.env, STREAMCHAT_URL: cluster.nodes[0].url }, timeout: 30000 }, (err, stdout, stderr) => {
          if (err) reject(new Error(`${err.message}\nstdout: ${stdout}\nstderr: ${stderr}`));
          else resolve({ stdout, stderr });
        });
      });
      expect(stdout).toMatch(/^bob got "hi bob" from alice, id \d+\n$/);
    } finally {
      fs.rmSync(file, { force: true });
    }
  });
});
