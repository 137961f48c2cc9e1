// Network namespaces for the multi-host tests: a bridge in this namespace (where the coordinator
// listens) and one namespace per worker, each with its own veth and address on the bridge's subnet,
// as another host would have. Needs root and iproute2; `canNetns()` says whether they are here.
import { spawn, spawnSync } from 'node:child_process';
import { cliBin } from './spawn-cli';

export function canNetns(): boolean {
  return process.getuid?.() === 0 && spawnSync('ip', ['netns', 'list']).status === 0;
}

/** Runs `ip` with `args`, throwing its stderr when it fails. */
export function ip(...args: string[]): void {
  const r = spawnSync('ip', args, { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`ip ${args.join(' ')}: ${r.stderr}`);
}

export interface Hosts {
  bridge: string;
  /** The bridge's address (the coordinator's host). */
  coordinator: string;
  /** Namespace name and address of host i (1-based). */
  ns(i: number): string;
  address(i: number): string;
  /** Host i's veth name inside its namespace (for tc). */
  device(i: number): string;
  remove(): void;
}

/**
 * A bridge with address SUBNET.1 and `count` namespaces at SUBNET.2, SUBNET.3, …; `tag` keeps the
 * names of concurrent test files apart (interface names are limited to 15 characters).
 */
export function makeHosts(tag: string, subnet: string, count: number): Hosts {
  const bridge = `${tag}br`;
  const ns = (i: number) => `${tag}n${i}`;
  ip('link', 'add', bridge, 'type', 'bridge');
  ip('addr', 'add', `${subnet}.1/24`, 'dev', bridge);
  ip('link', 'set', bridge, 'up');
  for (let i = 1; i <= count; i++) {
    ip('netns', 'add', ns(i));
    ip('link', 'add', `${tag}a${i}`, 'type', 'veth', 'peer', 'name', `${tag}b${i}`);
    ip('link', 'set', `${tag}b${i}`, 'netns', ns(i));
    ip('link', 'set', `${tag}a${i}`, 'master', bridge);
    ip('link', 'set', `${tag}a${i}`, 'up');
    ip('-n', ns(i), 'addr', 'add', `${subnet}.${1 + i}/24`, 'dev', `${tag}b${i}`);
    ip('-n', ns(i), 'link', 'set', `${tag}b${i}`, 'up');
    ip('-n', ns(i), 'link', 'set', 'lo', 'up');
  }
  return {
    bridge,
    coordinator: `${subnet}.1`,
    ns,
    address: (i) => `${subnet}.${1 + i}`,
    device: (i) => `${tag}b${i}`,
    remove: () => {
      for (let i = 1; i <= count; i++) spawnSync('ip', ['netns', 'del', ns(i)]);
      spawnSync('ip', ['link', 'del', bridge]);
    },
  };
}

/** `tfjs-ddp worker` inside namespace `ns`, as a process on another host; resolves at its exit. */
export function spawnWorker(
  ns: string,
  env: Record<string, string>,
  extra: string[] = [],
): Promise<{ code: number | null; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn('ip', ['netns', 'exec', ns, process.execPath, cliBin(), 'worker', ...extra], {
      env: { ...process.env, ...env },
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('close', (code) => resolve({ code, stderr }));
  });
}
