// docs/examples/kubernetes.yaml checked offline against the Kubernetes API schema (no cluster can run
// here): every object against the OpenAPI schema kubernetes-models compiles, and for fields the API
// does not have (test/support/kubernetes-schema.ts). The same checks must fail on broken copies.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { checkManifests, readManifests, type K8sObject } from './support/kubernetes-schema';
import { repoRoot } from './support/spawn-cli';

const EXAMPLE = readFileSync(join(repoRoot, 'docs/examples/kubernetes.yaml'), 'utf8');

/** The example's objects, in a copy where the field at `path` of the object of that kind is `value` (undefined: removed). */
function broken(kind: string, path: (string | number)[], value: unknown): K8sObject[] {
  const objects = readManifests(EXAMPLE).map((o) => ({ ...o, data: structuredClone(o.data) }));
  let at = objects.find((o) => o.kind === kind)!.data as Record<string | number, unknown>;
  for (const key of path.slice(0, -1)) at = at[key] as Record<string | number, unknown>;
  const last = path.at(-1)!;
  if (value === undefined) Reflect.deleteProperty(at, last);
  else at[last] = value;
  return objects;
}
const container = ['spec', 'template', 'spec', 'containers', 0];

describe('docs/examples/kubernetes.yaml', () => {
  it('is four objects the Kubernetes API schema accepts, with no field it does not know', () => {
    const objects = readManifests(EXAMPLE);
    expect(objects.map((o) => `${o.apiVersion} ${o.kind} ${o.name}`)).toEqual([
      'v1 PersistentVolumeClaim tfjs-ddp-runs',
      'v1 Service tfjs-ddp-coordinator',
      'v1 Pod tfjs-ddp-coordinator',
      'batch/v1 Job tfjs-ddp-workers',
    ]);
    expect(checkManifests(objects)).toEqual([]);
  });

  it('mounts the run key with mode 0400 (octal, as Kubernetes reads YAML), which tfjs-ddp accepts', () => {
    const modes = readManifests(EXAMPLE).flatMap(
      (o) => JSON.stringify(o.data).match(/"defaultMode":\d+/g) ?? [],
    );
    expect(modes).toEqual(['"defaultMode":256', '"defaultMode":256']);
  });

  it('fails on a copy with a wrong type, a value outside an enum, a missing field or an unknown field', () => {
    const port = checkManifests(broken('Service', ['spec', 'ports', 0, 'port'], 'twenty-nine-five'));
    expect(port.join('\n')).toMatch(/^Service tfjs-ddp-coordinator: .*ports\/0\/port must be integer/m);

    const policy = checkManifests(broken('Pod', ['spec', 'restartPolicy'], 'Sometimes'));
    expect(policy.join('\n')).toMatch(
      /^Pod tfjs-ddp-coordinator: .*restartPolicy must be equal to one of the allowed values/m,
    );

    const missing = checkManifests(broken('Job', [...container, 'name'], undefined));
    expect(missing.join('\n')).toMatch(
      /^Job tfjs-ddp-workers: .*containers\/0 must have required property name/m,
    );

    // The schema alone lets an unknown field through: the type check is what refuses it.
    const typo = checkManifests(broken('Job', [...container, 'workdir'], '/app'));
    expect(typo).toEqual([
      expect.stringMatching(/^Job tfjs-ddp-workers: .*'"?workdir"?' does not exist in type 'IContainer'/),
    ]);
  });
});
