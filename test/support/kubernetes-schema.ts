// Offline checks of Kubernetes manifests for test/kubernetes-example.test.ts, with no cluster:
// 1. each object against the Kubernetes API's OpenAPI schema, as kubernetes-models compiles it
//    (types, required fields, enums, formats such as int-or-string and quantities);
// 2. fields the API does not have, which that schema lets through (its objects allow any extra
//    property) but kubectl refuses (strict field validation, its default since Kubernetes 1.27): a
//    TypeScript excess-property check of each object against the same package's interfaces.
// YAML is read as 1.1, as Kubernetes reads it: `0400` is octal (256).
import { join } from 'node:path';
import { createRequire } from 'node:module';
import ts from 'typescript';
import { parseAllDocuments } from 'yaml';
import { repoRoot } from './spawn-cli';

const require = createRequire(import.meta.url);

interface Validatable {
  validate(): void;
}
type ModelClass = new (data: Record<string, unknown>) => Validatable;

/** The kinds the examples use: module under kubernetes-models, its class and interface names. */
const KINDS: Record<string, string> = {
  'v1/PersistentVolumeClaim': 'v1/PersistentVolumeClaim',
  'v1/Service': 'v1/Service',
  'v1/Pod': 'v1/Pod',
  'v1/Secret': 'v1/Secret',
  'v1/ConfigMap': 'v1/ConfigMap',
  'batch/v1/Job': 'batch/v1/Job',
  'apps/v1/Deployment': 'apps/v1/Deployment',
  'apps/v1/StatefulSet': 'apps/v1/StatefulSet',
};

export interface K8sObject {
  apiVersion: string;
  kind: string;
  name: string;
  data: Record<string, unknown>;
}

/** The objects of a multi-document YAML file; throws on a YAML error. */
export function readManifests(text: string): K8sObject[] {
  return parseAllDocuments(text, { version: '1.1' }).map((doc, i) => {
    if (doc.errors.length > 0)
      throw new Error(`document ${i + 1}: ${doc.errors.map((e) => e.message).join('; ')}`);
    const data = doc.toJSON() as Record<string, unknown>;
    const meta = (data['metadata'] ?? {}) as Record<string, unknown>;
    return {
      apiVersion: String(data['apiVersion']),
      kind: String(data['kind']),
      name: String(meta['name']),
      data,
    };
  });
}

/** What is wrong with each object, as "Kind name: problem"; empty when every object is valid. */
export function checkManifests(objects: K8sObject[]): string[] {
  const problems: string[] = [];
  const typed: { object: K8sObject; module: string; iface: string }[] = [];
  for (const o of objects) {
    const module = KINDS[`${o.apiVersion}/${o.kind}`];
    if (module === undefined) {
      problems.push(
        `${o.kind} ${o.name}: apiVersion ${o.apiVersion} kind ${o.kind} is not one this check knows (${Object.keys(KINDS).join(', ')})`,
      );
      continue;
    }
    const Model = (require(`kubernetes-models/${module}`) as Record<string, ModelClass>)[o.kind]!;
    try {
      new Model(o.data).validate();
    } catch (e) {
      problems.push(`${o.kind} ${o.name}: ${e instanceof Error ? e.message : String(e)}`);
    }
    typed.push({ object: o, module, iface: `I${o.kind}` });
  }
  return [...problems, ...unknownFields(typed)];
}

/** TypeScript's excess-property errors for each object typed as its kind's interface. */
function unknownFields(typed: { object: K8sObject; module: string; iface: string }[]): string[] {
  // A file beside the tests, so that kubernetes-models resolves from this checkout's node_modules.
  const file = join(repoRoot, 'test', '__kubernetes-manifest-check__.ts');
  const lines = typed.map(
    ({ module, iface }, i) => `import type { ${iface} as T${i} } from 'kubernetes-models/${module}';`,
  );
  const starts: number[] = [];
  typed.forEach(({ object }, i) => {
    starts.push(lines.length);
    lines.push(`export const o${i}: T${i} = ${JSON.stringify(object.data, null, 1)};`);
  });
  const source = lines.join('\n');
  const options: ts.CompilerOptions = {
    strict: true,
    noEmit: true,
    target: ts.ScriptTarget.ES2022,
    module: ts.ModuleKind.ESNext,
    moduleResolution: ts.ModuleResolutionKind.Bundler,
    skipLibCheck: true,
    types: [],
  };
  const host = ts.createCompilerHost(options);
  const getSourceFile = host.getSourceFile.bind(host);
  host.getSourceFile = (name, lang, ...rest) =>
    name === file ? ts.createSourceFile(name, source, lang) : getSourceFile(name, lang, ...rest);
  const fileExists = host.fileExists.bind(host);
  host.fileExists = (name) => name === file || fileExists(name);
  const program = ts.createProgram([file], options, host);
  const sf = program.getSourceFile(file)!;
  return ts.getPreEmitDiagnostics(program, sf).map((d) => {
    const line = d.start === undefined ? 0 : sf.getLineAndCharacterOfPosition(d.start).line;
    const i = starts.filter((s) => s <= line).length - 1;
    const where = i >= 0 ? `${typed[i]!.object.kind} ${typed[i]!.object.name}` : 'the imports';
    return `${where}: ${ts.flattenDiagnosticMessageText(d.messageText, ' ')}`;
  });
}
