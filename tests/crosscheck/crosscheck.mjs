// Cross-checks ctidx's granted-actions report against @cloud-copilot/iam-simulate, an independent
// IAM policy evaluator. See README.md for how to run it.
//
// Usage: node crosscheck.mjs AUTHORIZATION_DETAILS.json CATALOGUE.tsv CTIDX_REPORT.json
//            [--detailed CTIDX_DETAILED_REPORT.json] [--limit N] [--verbose]
//
// For every user and role in the authorization details, and every action in the catalogue, asks the
// simulator whether the principal may call the action on resource "*" with no request context, and
// compares the set of allowed actions with the principal's list in ctidx's report (actions granted
// on all resources, unconditionally, untouched by any Deny, after permissions boundaries).
//
// The simulator answers a request on "*" as "allowed on some resource overlapping *": it simulates
// each resource pattern of the allowing statements and allows if any is allowed. An action counts
// as allowed on all resources here only if the simulation of the pattern "*" itself is allowed (or,
// for actions that take no resource, the single simulation is).
//
// With --detailed (ctidx's per-action explanations), each disagreement is labelled with how ctidx
// grants the action, so the reasons can be tallied.
//
// The authorization details are read here independently of ctidx: policies gathered per principal
// (own inline + attached managed, plus the groups' for users), managed policies at their default
// version, documents decoded whether they are objects, JSON strings or percent-encoded strings.

import { readFileSync } from 'node:fs';
import { createValidatedPolicy, validateIdentityPolicy } from '@cloud-copilot/iam-policy';
import { runSimulation } from '@cloud-copilot/iam-simulate';

function usage(message) {
  console.error(message);
  console.error(
    'usage: node crosscheck.mjs AUTHORIZATION_DETAILS.json CATALOGUE.tsv CTIDX_REPORT.json ' +
      '[--detailed CTIDX_DETAILED_REPORT.json] [--limit N] [--verbose]',
  );
  process.exit(2);
}

const positional = [];
let limit = Infinity;
let verbose = false;
let detailedPath;
for (let i = 2; i < process.argv.length; i++) {
  const argument = process.argv[i];
  if (argument === '--limit') {
    limit = Number(process.argv[++i]);
  } else if (argument === '--detailed') {
    detailedPath = process.argv[++i];
  } else if (argument === '--verbose') {
    verbose = true;
  } else {
    positional.push(argument);
  }
}
if (positional.length !== 3) {
  usage('expected three files');
}
const [detailsPath, cataloguePath, reportPath] = positional;

const details = JSON.parse(readFileSync(detailsPath, 'utf8'));
const report = JSON.parse(readFileSync(reportPath, 'utf8'));
const detailed = detailedPath ? JSON.parse(readFileSync(detailedPath, 'utf8')) : undefined;
const actions = readFileSync(cataloguePath, 'utf8')
  .split('\n')
  .filter((line) => line.trim() !== '' && !line.startsWith('#'))
  .map((line) => {
    const [service, name] = line.split('\t');
    return `${service}:${name}`;
  });

function decodeDocument(document) {
  if (typeof document !== 'string') {
    return document;
  }
  const text = document.trimStart();
  return JSON.parse(text.startsWith('{') ? text : decodeURIComponent(text));
}

const managedPolicies = new Map();
for (const policy of details.Policies ?? []) {
  const versions = policy.PolicyVersionList ?? [];
  const chosen =
    versions.find((version) => version.IsDefaultVersion === true) ??
    versions.find((version) => version.VersionId === policy.DefaultVersionId);
  if (chosen) {
    managedPolicies.set(policy.Arn, { name: policy.PolicyName, document: decodeDocument(chosen.Document) });
  }
}
const groupsByName = new Map((details.GroupDetailList ?? []).map((group) => [group.GroupName, group]));

const notes = [];

function managed(attachedList, owner) {
  const result = [];
  for (const attached of attachedList ?? []) {
    const policy = managedPolicies.get(attached.PolicyArn);
    if (policy) {
      result.push({ name: `${owner}/managed/${attached.PolicyArn}`, document: policy.document });
    } else {
      notes.push(`${owner}: managed policy ${attached.PolicyArn} is not in Policies`);
    }
  }
  return result;
}

function inline(inlineList, owner) {
  return (inlineList ?? []).map((policy, index) => ({
    name: `${owner}/inline/${index}/${policy.PolicyName}`,
    document: decodeDocument(policy.PolicyDocument),
  }));
}

function principalsOf() {
  const principals = [];
  for (const user of details.UserDetailList ?? []) {
    const policies = [...inline(user.UserPolicyList, user.Arn), ...managed(user.AttachedManagedPolicies, user.Arn)];
    for (const groupName of user.GroupList ?? []) {
      const group = groupsByName.get(groupName);
      if (!group) {
        notes.push(`${user.Arn}: group ${groupName} is not in GroupDetailList`);
        continue;
      }
      policies.push(...inline(group.GroupPolicyList, group.Arn), ...managed(group.AttachedManagedPolicies, group.Arn));
    }
    principals.push({ arn: user.Arn, policies, boundaryArn: user.PermissionsBoundary?.PermissionsBoundaryArn });
  }
  for (const role of details.RoleDetailList ?? []) {
    const policies = [...inline(role.RolePolicyList, role.Arn), ...managed(role.AttachedManagedPolicies, role.Arn)];
    principals.push({ arn: role.Arn, policies, boundaryArn: role.PermissionsBoundary?.PermissionsBoundaryArn });
  }
  return principals;
}

function validated(policies) {
  return policies.map(({ name, document }) => ({
    name,
    policy: createValidatedPolicy(document, validateIdentityPolicy, { name }),
  }));
}

function accountOf(arn) {
  return arn.split(':')[4];
}

let principalsCompared = 0;
let actionsCompared = 0;
let disagreementCount = 0;
const simulationErrors = new Map();
const disagreements = [];
const started = Date.now();

for (const principal of principalsOf().slice(0, limit)) {
  const identityPolicies = validated(principal.policies);
  let permissionBoundaryPolicies;
  if (principal.boundaryArn) {
    const boundary = managedPolicies.get(principal.boundaryArn);
    if (boundary) {
      permissionBoundaryPolicies = validated([{ name: `boundary/${principal.boundaryArn}`, document: boundary.document }]);
    } else {
      notes.push(`${principal.arn}: permissions boundary ${principal.boundaryArn} is not in Policies; simulated without it`);
    }
  }
  const invalid = identityPolicies.concat(permissionBoundaryPolicies ?? []).filter((p) => p.policy.errors.length > 0);
  if (invalid.length > 0) {
    notes.push(`${principal.arn}: skipped, the simulator rejects ${invalid.map((p) => p.name).join(', ')}`);
    continue;
  }
  if (!(principal.arn in report)) {
    notes.push(`${principal.arn}: not in ctidx's report; skipped`);
    continue;
  }
  const ctidxGranted = new Set(report[principal.arn]);
  const simulatorGranted = new Set();
  for (const action of actions) {
    const result = await runSimulation(
      {
        request: {
          principal: principal.arn,
          action,
          resource: { resource: '*', accountId: accountOf(principal.arn) },
          contextVariables: {},
        },
        identityPolicies,
        serviceControlPolicies: [],
        resourceControlPolicies: [],
        permissionBoundaryPolicies,
      },
      { simulationMode: 'Strict' },
    );
    if (result.resultType === 'error') {
      const key = result.errors.message;
      simulationErrors.set(key, (simulationErrors.get(key) ?? 0) + 1);
      // An action the simulator cannot evaluate is left out of the comparison.
      ctidxGranted.delete(action);
      if (verbose) {
        console.error(`simulation error for ${principal.arn} ${action}: ${key}`);
      }
      continue;
    }
    actionsCompared++;
    const allowedOnAll =
      result.resultType === 'single'
        ? result.overallResult === 'Allowed'
        : result.results.some((one) => one.resourcePattern === '*' && one.analysis.result === 'Allowed');
    if (allowedOnAll) {
      simulatorGranted.add(action);
    }
  }
  principalsCompared++;
  const onlyCtidx = [...ctidxGranted].filter((action) => !simulatorGranted.has(action)).sort();
  const onlySimulator = [...simulatorGranted].filter((action) => !ctidxGranted.has(action)).sort();
  if (onlyCtidx.length > 0 || onlySimulator.length > 0) {
    disagreementCount += onlyCtidx.length + onlySimulator.length;
    disagreements.push({ principal: principal.arn, onlyCtidx, onlySimulator });
  }
  if (verbose) {
    console.error(
      `${principal.arn}: ctidx ${ctidxGranted.size}, simulator ${simulatorGranted.size}, ` +
        `${((Date.now() - started) / 1000).toFixed(1)} s elapsed`,
    );
  }
}

// How ctidx grants an action that it leaves out of the unrestricted list, from the detailed report.
function ctidxQualifier(principalArn, action) {
  const how = detailed?.[principalArn]?.granted?.[action];
  if (!detailed) {
    return 'unknown (no --detailed report)';
  }
  if (!how) {
    return 'not granted by ctidx';
  }
  const parts = [];
  if (how.scope === 'some') parts.push('some resources');
  if (how.conditional) parts.push('conditional');
  if (how.deny_cut?.conditional) parts.push('conditional Deny');
  if (how.deny_cut?.some_resources) parts.push('Deny on some resources');
  return parts.length > 0 ? parts.join(' + ') : 'unrestricted';
}

const reasons = new Map();
function tally(direction, principalArn, actionList) {
  for (const action of actionList) {
    const key = `${direction}: ctidx says ${ctidxQualifier(principalArn, action)}`;
    const entry = reasons.get(key) ?? { count: 0, examples: [] };
    entry.count++;
    if (entry.examples.length < 3) entry.examples.push(`${principalArn} ${action}`);
    reasons.set(key, entry);
  }
}
for (const { principal, onlyCtidx, onlySimulator } of disagreements) {
  tally('simulator allows on *, ctidx not unrestricted', principal, onlySimulator);
  tally('ctidx unrestricted, simulator does not allow on *', principal, onlyCtidx);
}

const show = (list) => (list.length <= 12 ? list.join(', ') : `${list.slice(0, 12).join(', ')}, … (${list.length})`);
for (const note of notes) {
  console.log(`note: ${note}`);
}
for (const { principal, onlyCtidx, onlySimulator } of disagreements) {
  console.log(`disagreement: ${principal}`);
  if (onlyCtidx.length > 0) {
    console.log(`  granted by ctidx only (${onlyCtidx.length}): ${show(onlyCtidx)}`);
  }
  if (onlySimulator.length > 0) {
    console.log(`  allowed by the simulator only (${onlySimulator.length}): ${show(onlySimulator)}`);
  }
}
for (const [reason, { count, examples }] of reasons) {
  console.log(`reason: ${reason}: ${count} (e.g. ${examples.join('; ')})`);
}
for (const [message, count] of simulationErrors) {
  console.log(`simulator could not evaluate ${count} principal × action pairs: ${message}`);
}
console.log(`principals compared: ${principalsCompared}`);
console.log(`actions compared: ${actionsCompared} (principal × action pairs)`);
console.log(`disagreements: ${disagreementCount} actions in ${disagreements.length} principals`);
console.log(`elapsed: ${((Date.now() - started) / 1000).toFixed(1)} s`);
