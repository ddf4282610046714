import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';

// eslint-disable-next-line @typescript-eslint/no-require-imports
const cassandra = require('../../scripts/lib/cassandra');
const SCRIPT = path.resolve(__dirname, '..', '..', 'scripts', 'lib', 'cassandra.js');

/** The set-up of the embedded Cassandra as a user meets it when something is in the way. */
describe('embedded Cassandra set-up', () => {
  it('fails at once on a taken port, naming the port and the process that holds it', async () => {
    const holder = net.createServer();
    await new Promise<void>((resolve) => holder.listen(0, '127.0.0.1', resolve));
    const port = (holder.address() as net.AddressInfo).port;
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cassandra-port-'));
    const started = Date.now();
    try {
      await expect(cassandra.startCassandra({ dir, nativePort: port, storagePort: port + 1 }))
        .rejects.toThrow(new RegExp(`native port 127\\.0\\.0\\.1:${port} is taken by node \\(pid ${process.pid}`));
      expect(Date.now() - started).toBeLessThan(5000);
      // Nothing was started: no Java process on that data directory.
      expect(fs.existsSync(path.join(dir, 'cassandra.yaml'))).toBe(false);
    } finally {
      holder.close();
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it('says in one line what to do when Maven Central cannot be reached', () => {
    const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'cassandra-fetch-'));
    try {
      // A mirror where nothing listens stands for Maven Central out of reach; an empty Maven repository has nothing cached.
      const r = spawnSync(process.execPath, [SCRIPT, 'install', path.join(tmp, 'home'), path.join(tmp, 'm2')], {
        encoding: 'utf8', env: { ...process.env, MAVEN_MIRROR_URL: 'http://127.0.0.1:1/maven2' }, timeout: 120000,
      });
      expect(r.status).toBe(1);
      const lines = r.stderr.trim().split('\n');
      expect(lines).toHaveLength(1);
      expect(lines[0]).toMatch(/could not fetch Apache Cassandra 5\.0\.\d+ from Maven Central .*point CHAT_CASSANDRA_CONTACT_POINTS at a running Cassandra/);
      expect(fs.existsSync(path.join(tmp, 'home', 'lib'))).toBe(false);
    } finally {
      fs.rmSync(tmp, { recursive: true, force: true });
    }
  });
});
