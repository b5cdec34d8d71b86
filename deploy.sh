#!/usr/bin/env bash
#
# Builds the pp-merchantai data generator's Lambda zip and deploys it with
# CloudFormation (cloudformation.yml): stack, real code, then the schedule.
# See the "Deployment" section of README.md.

set -euo pipefail
shopt -s inherit_errexit
# Never add `set -x` here: it would print the API key.

ROOT_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
readonly ROOT_DIR
readonly TEMPLATE="${ROOT_DIR}/cloudformation.yml"
readonly BUILD_DIR="${ROOT_DIR}/deployment"
readonly ZIP_PATH="${ROOT_DIR}/lambda-deployment.zip"
readonly PYTHON_VERSION="3.13"
readonly LOG_LEVELS="DEBUG INFO WARNING ERROR CRITICAL"
readonly GROUND_TRUTH_MODES="separate inline"
readonly REMEDIATION_MODES="off on"
# Mirrors of the template's AllowedPatterns, checked before any AWS call.
readonly HOST_PATTERN='^https://[^[:space:]/?#@]+(/[^[:space:]?#@]*)?$'
readonly INDEX_PATTERN='^[a-z0-9][a-z0-9._-]{0,254}$'
readonly SECRET_ARN_PATTERN='^arn:aws[a-z-]*:secretsmanager:[a-z0-9-]+:[0-9]{12}:secret:[A-Za-z0-9/_+=.@-]+-[A-Za-z0-9]{6}$'
# A built-in scenario or the file name of one of lambda/scenarios/*.json (all the
# function can read is its zip).
readonly SCENARIO_PATTERN='^(steady|incidents|hard|[A-Za-z0-9][A-Za-z0-9._-]{0,249}\.json)$'
readonly TOPIC_ARN_PATTERN='^arn:aws[a-z-]*:sns:[a-z0-9-]+:[0-9]{12}:[A-Za-z0-9_-]+$'
readonly MAX_SEED="340282366920938463463374607431768211456"  # 2**128, the largest seed the code takes

# AWS CLI v2 would otherwise page its output.
export AWS_PAGER=""

# Settings; flags override the environment.
STACK_NAME="${STACK_NAME:-pp-merchantai-data-generator}"
FUNCTION_NAME="${FUNCTION_NAME:-pp-merchantai-data-generator}"
ARCHITECTURE="${LAMBDA_ARCHITECTURE:-arm64}"
LOG_LEVEL="${LOG_LEVEL:-INFO}"
REGION=""
PROFILE=""
ACTION="deploy"
ELASTICSEARCH_HOST="${ELASTICSEARCH_HOST:-}"
ELASTICSEARCH_INDEX="${ELASTICSEARCH_INDEX:-pp-merchantai}"
ELASTICSEARCH_API_KEY="${ELASTICSEARCH_API_KEY:-}"
ELASTICSEARCH_API_KEY_SECRET_ARN="${ELASTICSEARCH_API_KEY_SECRET_ARN:-}"
MERCHANT_COUNT="${MERCHANT_COUNT:-20}"
GENERATOR_SEED="${GENERATOR_SEED:-}"
GENERATOR_SEED_SECRET_ARN="${GENERATOR_SEED_SECRET_ARN:-}"
RESERVED_CONCURRENCY="${RESERVED_CONCURRENCY:--1}"
ALARM_TOPIC_ARN="${ALARM_TOPIC_ARN:-}"
SCENARIO="${SCENARIO:-steady}"
GROUND_TRUTH="${GROUND_TRUTH:-separate}"
ANSWER_KEY_INDEX="${ANSWER_KEY_INDEX:-}"
REMEDIATION="${REMEDIATION:-off}"
REMEDIATION_INDEX="${REMEDIATION_INDEX:-}"
EVENTS_INDEX="${EVENTS_INDEX:-}"
FINDINGS_INDEX="${FINDINGS_INDEX:-}"
WORK_DIR=""
COMPILER=""
# What describe-stacks said of an existing stack (read_stack).
STACK_STATE=""
PREVIOUS_SEED=""
PREVIOUS_SEED_SECRET_ARN=""
NEW_SEED=""  # a seed this run created (resolve_seed), for redact only

usage() {
  cat <<'EOF'
Usage: ./deploy.sh [options]

Builds lambda-deployment.zip (requirements.txt vendored for the Lambda platform
plus lambda/*.py and lambda/scenarios/*.json) and deploys it: CloudFormation stack
(cloudformation.yml), then the code (update-function-code), then the hourly
schedule is enabled.

Options:
  --stack-name NAME          stack name (env STACK_NAME; default pp-merchantai-data-generator)
  --function-name NAME       function name (env FUNCTION_NAME; default pp-merchantai-data-generator)
  --region REGION            AWS region (default: the AWS CLI's configuration)
  --profile PROFILE          AWS CLI profile (default: the AWS CLI's configuration)
  --log-level LEVEL          DEBUG, INFO, WARNING, ERROR or CRITICAL (env LOG_LEVEL; default INFO)
  --architecture ARCH        arm64 or x86_64 (env LAMBDA_ARCHITECTURE; default arm64)
  --host URL                 Elasticsearch URL, https:// (env ELASTICSEARCH_HOST)
  --index NAME               index name (env ELASTICSEARCH_INDEX; default pp-merchantai)
  --api-key-file FILE        read the encoded API key from FILE (or env ELASTICSEARCH_API_KEY)
  --api-key-secret-arn ARN   Secrets Manager secret holding the key, instead of the key
                             (env ELASTICSEARCH_API_KEY_SECRET_ARN)
  --seed-secret-arn ARN      Secrets Manager secret holding the generator seed
                             (env GENERATOR_SEED_SECRET_ARN; default: the stack's, or on the
                             first deploy a new secret <stack-name>-generator-seed holding
                             a random 128-bit seed)
  --scenario NAME            steady, incidents, hard or a lambda/scenarios/*.json file name
                             (env SCENARIO; default steady)
  --ground-truth MODE        separate or inline (env GROUND_TRUTH; default separate)
  --answer-key-index NAME    answer-key index (env ANSWER_KEY_INDEX; default <index>-incidents)
  --remediation MODE         off or on (env REMEDIATION; default off)
  --remediation-index NAME   remediations index (env REMEDIATION_INDEX;
                             default <index>-remediations)
  --events-index NAME        change-events index (env EVENTS_INDEX; default <index>-events)
  --findings-index NAME      the AI's findings index, whose findings each run records
                             (env FINDINGS_INDEX; default none)
  --package-only             build lambda-deployment.zip only; no AWS call
  --delete                   delete the stack (function, schedule, queue, logs)
  -h, --help                 show this help

Also from the environment: MERCHANT_COUNT (default 20), GENERATOR_SEED (a seed that is
not secret, instead of the seed's secret: it shows in the stack and the function's configuration),
RESERVED_CONCURRENCY (default -1: none), ALARM_TOPIC_ARN (SNS topic for the alarms),
LAMBDA_PYTHON (the python3.13 that compiles the package to bytecode; default
python3.13 on PATH; without one the zip ships source only).
The key and the seed are never printed and never passed on a command line.
EOF
}

# Prints an error message with a timestamp to stderr.
err() {
  echo "[$(date -u +'%Y-%m-%dT%H:%M:%SZ')] deploy.sh: error: $*" >&2
}

# Prints a progress message.
info() {
  echo "==> $*"
}

# Prints the usage to stderr and fails (for a bad command line).
usage_error() {
  err "$*"
  usage >&2
  exit 2
}

# Reads the flags into the settings above.
parse_args() {
  while (($# > 0)); do
    case "$1" in
      --stack-name | --function-name | --region | --profile | --log-level | --architecture | \
        --host | --index | --api-key-file | --api-key-secret-arn | --seed-secret-arn | --scenario | \
        --ground-truth | --answer-key-index | --remediation | --remediation-index | --events-index | \
        --findings-index)
        if (($# < 2)) || [[ -z "$2" ]]; then
          usage_error "$1 needs a value"
        fi
        case "$1" in
          --stack-name) STACK_NAME="$2" ;;
          --function-name) FUNCTION_NAME="$2" ;;
          --region) REGION="$2" ;;
          --profile) PROFILE="$2" ;;
          --log-level) LOG_LEVEL="$2" ;;
          --architecture) ARCHITECTURE="$2" ;;
          --host) ELASTICSEARCH_HOST="$2" ;;
          --index) ELASTICSEARCH_INDEX="$2" ;;
          --api-key-file) read_api_key_file "$2" ;;
          --api-key-secret-arn) ELASTICSEARCH_API_KEY_SECRET_ARN="$2" ;;
          --seed-secret-arn) GENERATOR_SEED_SECRET_ARN="$2" ;;
          --scenario) SCENARIO="$2" ;;
          --ground-truth) GROUND_TRUTH="$2" ;;
          --answer-key-index) ANSWER_KEY_INDEX="$2" ;;
          --remediation) REMEDIATION="$2" ;;
          --remediation-index) REMEDIATION_INDEX="$2" ;;
          --events-index) EVENTS_INDEX="$2" ;;
          --findings-index) FINDINGS_INDEX="$2" ;;
        esac
        shift 2
        ;;
      --package-only) ACTION="package" && shift ;;
      --delete) ACTION="delete" && shift ;;
      -h | --help)
        usage
        exit 0
        ;;
      *) usage_error "unknown option: $1" ;;
    esac
  done
}

# Reads the API key from a file (first line), so it never appears on a command line.
read_api_key_file() {
  local file="$1"
  if [[ ! -r "${file}" ]]; then
    err "cannot read the API key file ${file}"
    exit 2
  fi
  IFS= read -r ELASTICSEARCH_API_KEY <"${file}" || true
}

# Fails unless every named command is installed.
check_commands() {
  local command
  for command in "$@"; do
    if ! command -v "${command}" >/dev/null 2>&1; then
      err "${command} is required but not installed (see README.md, Deployment)"
      exit 1
    fi
  done
}

# Fails unless python3 has pip (to vendor requirements.txt).
check_pip() {
  if ! python3 -m pip --version >/dev/null 2>&1; then
    err "pip is required (python3 -m pip) to vendor requirements.txt"
    exit 1
  fi
}

# Fails with a message naming the input unless value matches pattern.
check_pattern() {
  local name="$1" value="$2" pattern="$3" hint="$4"
  if [[ ! "${value}" =~ ${pattern} ]]; then
    err "${name} ${hint}"
    exit 2
  fi
}

# Checks the build settings (needed by --package-only too).
check_build_inputs() {
  case "${ARCHITECTURE}" in
    arm64 | x86_64) ;;
    *) usage_error "--architecture must be arm64 or x86_64, got '${ARCHITECTURE}'" ;;
  esac
  find_compiler
}

# Checks every deployment input before anything touches AWS.
check_deploy_inputs() {
  if [[ -z "${ELASTICSEARCH_HOST}" ]]; then
    err "ELASTICSEARCH_HOST is not set (export it or pass --host https://...)"
    exit 2
  fi
  check_pattern ELASTICSEARCH_HOST "${ELASTICSEARCH_HOST}" "${HOST_PATTERN}" \
    "must be an https:// URL without credentials, query or fragment"
  if [[ -z "${ELASTICSEARCH_API_KEY}" && -z "${ELASTICSEARCH_API_KEY_SECRET_ARN}" ]]; then
    err "no API key: set ELASTICSEARCH_API_KEY (or --api-key-file)" \
      "or ELASTICSEARCH_API_KEY_SECRET_ARN (or --api-key-secret-arn)"
    exit 2
  fi
  if [[ -n "${ELASTICSEARCH_API_KEY}" && -n "${ELASTICSEARCH_API_KEY_SECRET_ARN}" ]]; then
    err "set either ELASTICSEARCH_API_KEY or ELASTICSEARCH_API_KEY_SECRET_ARN, not both"
    exit 2
  fi
  if [[ -n "${ELASTICSEARCH_API_KEY_SECRET_ARN}" ]]; then
    check_pattern ELASTICSEARCH_API_KEY_SECRET_ARN "${ELASTICSEARCH_API_KEY_SECRET_ARN}" \
      "${SECRET_ARN_PATTERN}" "must be the full ARN of a Secrets Manager secret (with its 6-character suffix)"
  fi
  if [[ "${ELASTICSEARCH_API_KEY}" =~ [[:space:]] ]]; then
    err "ELASTICSEARCH_API_KEY must not contain whitespace (use the encoded key)"
    exit 2
  fi
  check_pattern ELASTICSEARCH_INDEX "${ELASTICSEARCH_INDEX}" "${INDEX_PATTERN}" \
    "must be a lowercase Elasticsearch index name"
  check_pattern --stack-name "${STACK_NAME}" '^[A-Za-z][A-Za-z0-9-]{0,127}$' \
    "must start with a letter and hold only letters, digits and hyphens"
  check_pattern --function-name "${FUNCTION_NAME}" '^[A-Za-z0-9_-]{1,40}$' \
    "must be 1 to 40 letters, digits, hyphens or underscores"
  check_pattern MERCHANT_COUNT "${MERCHANT_COUNT}" '^[1-9][0-9]{0,5}$' "must be an integer from 1 to 100000"
  if ((MERCHANT_COUNT > 100000)); then
    err "MERCHANT_COUNT must be an integer from 1 to 100000"
    exit 2
  fi
  check_seed_inputs
  check_pattern RESERVED_CONCURRENCY "${RESERVED_CONCURRENCY}" '^(-1|[0-9]{1,4})$' \
    "must be -1 (none) or a number of executions"
  if [[ -n "${ALARM_TOPIC_ARN}" ]]; then
    check_pattern ALARM_TOPIC_ARN "${ALARM_TOPIC_ARN}" "${TOPIC_ARN_PATTERN}" "must be an SNS topic ARN"
  fi
  LOG_LEVEL="${LOG_LEVEL^^}"
  if [[ " ${LOG_LEVELS} " != *" ${LOG_LEVEL} "* ]]; then
    usage_error "--log-level must be one of ${LOG_LEVELS}, got '${LOG_LEVEL}'"
  fi
  check_scenario_inputs
}

# Checks GENERATOR_SEED (and writes it as the code reads it) or GENERATOR_SEED_SECRET_ARN;
# a refused seed is never shown.
check_seed_inputs() {
  if [[ -n "${GENERATOR_SEED}" && -n "${GENERATOR_SEED_SECRET_ARN}" ]]; then
    err "set either GENERATOR_SEED or GENERATOR_SEED_SECRET_ARN (--seed-secret-arn), not both"
    exit 2
  fi
  if [[ -n "${GENERATOR_SEED_SECRET_ARN}" ]]; then
    check_pattern GENERATOR_SEED_SECRET_ARN "${GENERATOR_SEED_SECRET_ARN}" "${SECRET_ARN_PATTERN}" \
      "must be the full ARN of a Secrets Manager secret (with its 6-character suffix)"
  fi
  if [[ -z "${GENERATOR_SEED}" ]]; then
    return
  fi
  local sign="" digits="${GENERATOR_SEED}"
  if [[ "${digits}" == [-+]* ]]; then
    sign="${digits:0:1}" && digits="${digits:1}"
  fi
  if [[ ! "${digits}" =~ ^[0-9]+$ ]]; then
    err "GENERATOR_SEED must be an integer from -2**128 to 2**128 (the value is not shown)"
    exit 2
  fi
  digits="${digits#"${digits%%[!0]*}"}"
  digits="${digits:-0}"
  # Digit strings of equal length compare as their numbers (bash's integers stop at 2**63).
  # shellcheck disable=SC2071 # a string comparison, on purpose
  if ((${#digits} > ${#MAX_SEED})) || [[ ${#digits} -eq ${#MAX_SEED} && "${digits}" > "${MAX_SEED}" ]]; then
    err "GENERATOR_SEED must be an integer from -2**128 to 2**128 (the value is not shown)"
    exit 2
  fi
  GENERATOR_SEED="${sign/+/}${digits}"
}

# Checks the scenario, answer-key and remediation settings.
check_scenario_inputs() {
  check_pattern SCENARIO "${SCENARIO}" "${SCENARIO_PATTERN}" \
    "must be steady, incidents, hard or the file name of a lambda/scenarios/*.json file, got '${SCENARIO}'"
  if [[ "${SCENARIO}" == *.json && ! -f "${ROOT_DIR}/lambda/scenarios/${SCENARIO}" ]]; then
    err "SCENARIO names lambda/scenarios/${SCENARIO}, which does not exist"
    exit 2
  fi
  GROUND_TRUTH="${GROUND_TRUTH,,}"
  if [[ " ${GROUND_TRUTH_MODES} " != *" ${GROUND_TRUTH} "* ]]; then
    usage_error "--ground-truth must be one of ${GROUND_TRUTH_MODES}, got '${GROUND_TRUTH}'"
  fi
  REMEDIATION="${REMEDIATION,,}"
  if [[ " ${REMEDIATION_MODES} " != *" ${REMEDIATION} "* ]]; then
    usage_error "--remediation must be one of ${REMEDIATION_MODES}, got '${REMEDIATION}'"
  fi
  if [[ -n "${ANSWER_KEY_INDEX}" ]]; then
    check_pattern ANSWER_KEY_INDEX "${ANSWER_KEY_INDEX}" "${INDEX_PATTERN}" \
      "must be a lowercase Elasticsearch index name"
  fi
  if [[ -n "${REMEDIATION_INDEX}" ]]; then
    check_pattern REMEDIATION_INDEX "${REMEDIATION_INDEX}" "${INDEX_PATTERN}" \
      "must be a lowercase Elasticsearch index name"
  fi
  if [[ -n "${EVENTS_INDEX}" ]]; then
    check_pattern EVENTS_INDEX "${EVENTS_INDEX}" "${INDEX_PATTERN}" \
      "must be a lowercase Elasticsearch index name"
  fi
  if [[ -n "${FINDINGS_INDEX}" ]]; then
    check_pattern FINDINGS_INDEX "${FINDINGS_INDEX}" "${INDEX_PATTERN}" \
      "must be a lowercase Elasticsearch index name"
  fi
}

# Replaces the API key and a new seed with [redacted] in stdin (AWS CLI output and errors).
redact() {
  local line
  while IFS= read -r line || [[ -n "${line}" ]]; do
    if [[ -n "${ELASTICSEARCH_API_KEY}" ]]; then
      line="${line//"${ELASTICSEARCH_API_KEY}"/[redacted]}"
    fi
    if [[ -n "${NEW_SEED}" ]]; then
      line="${line//"${NEW_SEED}"/[redacted]}"
    fi
    printf '%s\n' "${line}"
  done
}

# Runs the AWS CLI with --region/--profile; its output (to stdout) and its errors
# (to stderr) both go through redact. Returns the CLI's exit status.
aws_cli() {
  local -a options=()
  if [[ -n "${REGION}" ]]; then
    options+=(--region "${REGION}")
  fi
  if [[ -n "${PROFILE}" ]]; then
    options+=(--profile "${PROFILE}")
  fi
  { aws "${options[@]}" "$@" 2>&1 1>&3 3>&- | redact >&2 3>&-; } 3>&1 | redact
}

# Finds the python${PYTHON_VERSION} that compiles the package: LAMBDA_PYTHON (which must then
# be that version), else python${PYTHON_VERSION} on PATH if it runs; else none (COMPILER="").
find_compiler() {
  local candidate="${LAMBDA_PYTHON:-python${PYTHON_VERSION}}"
  local check="import sys; sys.exit(sys.version_info[:2] != (${PYTHON_VERSION/./, }))"
  if "${candidate}" -I -c "${check}" >/dev/null 2>&1; then
    COMPILER="$(command -v "${candidate}")"
  elif [[ -n "${LAMBDA_PYTHON:-}" ]]; then
    err "LAMBDA_PYTHON=${LAMBDA_PYTHON} is not a working python${PYTHON_VERSION}"
    exit 2
  fi
}

# Compiles the package to bytecode for the runtime's Python, so a cold start does
# not compile it. /var/task is read-only, so nothing compiled there is kept; and
# the zip does not keep the sources' mtimes exactly, so timestamp-checked .pyc files
# would be stale: unchecked-hash .pyc files in __pycache__ are used as they are.
# Paths inside are /var/task/..., so the same sources always give the same bytes.
# The client's DSL (1 MB of bytecode) is never imported and stays source only.
compile_package() {
  if [[ -z "${COMPILER}" ]]; then
    info "No python${PYTHON_VERSION} (on PATH, or LAMBDA_PYTHON): shipping source only;" \
      "every cold start compiles it (about 0.5 s)"
    return
  fi
  info "Compiling to bytecode with ${COMPILER}"
  "${COMPILER}" -I -m compileall -q -j 0 --invalidation-mode unchecked-hash \
    -s "${BUILD_DIR}" -p /var/task -x '/elasticsearch/dsl/' "${BUILD_DIR}" >/dev/null
}

# Builds lambda-deployment.zip: the runtime dependencies for the Lambda platform
# (boto3 comes with the runtime and is not vendored), the function's lambda/*.py and, beside them,
# lambda/scenarios/*.json (so SCENARIO=<file name> finds them in scenarios/); compiled
# to bytecode when python${PYTHON_VERSION} is at hand.
build_package() {
  local platform="manylinux2014_x86_64"
  if [[ "${ARCHITECTURE}" == "arm64" ]]; then
    platform="manylinux2014_aarch64"
  fi
  info "Vendoring requirements.txt for python${PYTHON_VERSION} ${platform} into deployment/"
  rm -rf "${BUILD_DIR}" "${ZIP_PATH}"
  mkdir -p "${BUILD_DIR}"
  python3 -m pip install --quiet --disable-pip-version-check --no-compile \
    --requirement "${ROOT_DIR}/requirements.txt" --target "${BUILD_DIR}" \
    --platform "${platform}" --only-binary=:all: \
    --python-version "${PYTHON_VERSION}" --implementation cp
  # The function's modules only: the grader (lambda/grader/, launched by evaluate.py)
  # is a product of its own and never ships.
  local module
  for module in "${ROOT_DIR}"/lambda/*.py; do
    [[ "$(basename "${module}")" == "evaluate.py" ]] || cp "${module}" "${BUILD_DIR}/"
  done
  mkdir -p "${BUILD_DIR}/scenarios"
  cp "${ROOT_DIR}"/lambda/scenarios/*.json "${BUILD_DIR}/scenarios/"
  # Console scripts and caches are of no use in Lambda.
  rm -rf "${BUILD_DIR:?}/bin"
  find "${BUILD_DIR}" -name __pycache__ -type d -prune -exec rm -rf {} +
  compile_package
  (cd "${BUILD_DIR}" && zip --quiet --recurse-paths -X "${ZIP_PATH}" .)
  info "Built lambda-deployment.zip ($(du -k "${ZIP_PATH}" | cut -f1) KB)"
}

# Reads the existing stack into STACK_STATE (its ScheduleState, ENABLED or DISABLED, or NONE
# if there is no stack), PREVIOUS_SEED and PREVIOUS_SEED_SECRET_ARN (its seed parameters).
read_stack() {
  local output errors="${WORK_DIR}/describe-stacks.err" query="Stacks[0].[StackStatus" name
  # '-' stands for an empty or missing value: text output would run empty fields together.
  for name in ScheduleState GeneratorSeed GeneratorSeedSecretArn; do
    query+=", Parameters[?ParameterKey=='${name}'].ParameterValue | [0] || '-'"
  done
  query+="]"
  if output="$(aws_cli cloudformation describe-stacks --stack-name "${STACK_NAME}" \
    --query "${query}" --output text 2>"${errors}")"; then
    local status state seed arn
    read -r status state seed arn <<<"${output}"
    case "${status}" in
      REVIEW_IN_PROGRESS) STACK_STATE="NONE" ;;
      ROLLBACK_COMPLETE | ROLLBACK_FAILED | DELETE_FAILED)
        err "stack ${STACK_NAME} is in ${status} and cannot be updated:" \
          "see its events, then run ./deploy.sh --delete and deploy again"
        exit 1
        ;;
      *)
        STACK_STATE="${state}"
        [[ "${seed}" == "-" ]] || PREVIOUS_SEED="${seed}"
        [[ "${arn}" == "-" ]] || PREVIOUS_SEED_SECRET_ARN="${arn}"
        ;;
    esac
  elif grep -q "does not exist" "${errors}"; then
    STACK_STATE="NONE"
  else
    cat "${errors}" >&2
    err "cannot read stack ${STACK_NAME} (see the AWS CLI's message above)"
    exit 1
  fi
}

# The seed, unless given: the stack's (re-deploys keep it), else the secret
# <stack-name>-generator-seed, created on the first deploy with a random 128-bit seed
# that is never printed, never on a command line, and readable only with access to the secret.
resolve_seed() {
  if [[ -n "${GENERATOR_SEED}" || -n "${GENERATOR_SEED_SECRET_ARN}" ]]; then
    return
  fi
  if [[ -n "${PREVIOUS_SEED_SECRET_ARN}" ]]; then
    GENERATOR_SEED_SECRET_ARN="${PREVIOUS_SEED_SECRET_ARN}"
    return
  fi
  if [[ -n "${PREVIOUS_SEED}" ]]; then
    # A stack deployed with GENERATOR_SEED keeps its data; its seed is not secret.
    info "Keeping the stack's GENERATOR_SEED, which is not secret (docs/deployment.md, Seeds)"
    GENERATOR_SEED="${PREVIOUS_SEED}"
    return
  fi
  local name="${STACK_NAME}-generator-seed" errors="${WORK_DIR}/describe-secret.err" seed="${WORK_DIR}/seed"
  if GENERATOR_SEED_SECRET_ARN="$(aws_cli secretsmanager describe-secret --secret-id "${name}" \
    --query ARN --output text 2>"${errors}")"; then
    info "Using the seed kept in the Secrets Manager secret ${name}"
  elif grep -q "ResourceNotFoundException" "${errors}"; then
    # 128 random bits, the top one set: never below 2**127, never guessable. In a private
    # file for the AWS CLI; in NEW_SEED only so that redact can hide it.
    NEW_SEED="$(python3 -c 'import secrets; print(secrets.randbits(128) | 1 << 127)')"
    (umask 077 && printf '%s' "${NEW_SEED}" >"${seed}")
    GENERATOR_SEED_SECRET_ARN="$(aws_cli secretsmanager create-secret --name "${name}" \
      --description "pp-merchantai generator seed of stack ${STACK_NAME}: the answer key follows from it" \
      --secret-string "file://${seed}" --query ARN --output text)"
    rm -f "${seed}"
    info "Created a random 128-bit seed in the Secrets Manager secret ${name} (never printed)"
  else
    cat "${errors}" >&2
    err "cannot read the secret ${name} (see the AWS CLI's message above)"
    exit 1
  fi
}

# Writes the stack parameters as a JSON list of Key=Value to a private file,
# so the key is never on a command line. All are given on every deploy: the
# command line and environment are the source of truth, not previous values.
write_parameters() {
  local schedule_state="$1" file="$2"
  PARAM_SCHEDULE_STATE="${schedule_state}" PARAM_API_KEY="${ELASTICSEARCH_API_KEY}" \
    PARAM_FUNCTION_NAME="${FUNCTION_NAME}" PARAM_HOST="${ELASTICSEARCH_HOST}" \
    PARAM_INDEX="${ELASTICSEARCH_INDEX}" PARAM_SECRET_ARN="${ELASTICSEARCH_API_KEY_SECRET_ARN}" \
    PARAM_MERCHANT_COUNT="${MERCHANT_COUNT}" PARAM_SEED="${GENERATOR_SEED}" \
    PARAM_SEED_SECRET_ARN="${GENERATOR_SEED_SECRET_ARN}" \
    PARAM_LOG_LEVEL="${LOG_LEVEL}" PARAM_ARCHITECTURE="${ARCHITECTURE}" \
    PARAM_RESERVED_CONCURRENCY="${RESERVED_CONCURRENCY}" PARAM_ALARM_TOPIC_ARN="${ALARM_TOPIC_ARN}" \
    PARAM_SCENARIO="${SCENARIO}" PARAM_GROUND_TRUTH="${GROUND_TRUTH}" \
    PARAM_ANSWER_KEY_INDEX="${ANSWER_KEY_INDEX}" PARAM_REMEDIATION="${REMEDIATION}" \
    PARAM_REMEDIATION_INDEX="${REMEDIATION_INDEX}" PARAM_EVENTS_INDEX="${EVENTS_INDEX}" \
    PARAM_FINDINGS_INDEX="${FINDINGS_INDEX}" \
    python3 - "${file}" <<'EOF'
import json
import os
import sys

names = {
    "FunctionName": "PARAM_FUNCTION_NAME",
    "ElasticsearchHost": "PARAM_HOST",
    "ElasticsearchIndex": "PARAM_INDEX",
    "ElasticsearchApiKey": "PARAM_API_KEY",
    "ElasticsearchApiKeySecretArn": "PARAM_SECRET_ARN",
    "MerchantCount": "PARAM_MERCHANT_COUNT",
    "GeneratorSeed": "PARAM_SEED",
    "GeneratorSeedSecretArn": "PARAM_SEED_SECRET_ARN",
    "LogLevel": "PARAM_LOG_LEVEL",
    "Scenario": "PARAM_SCENARIO",
    "GroundTruth": "PARAM_GROUND_TRUTH",
    "AnswerKeyIndex": "PARAM_ANSWER_KEY_INDEX",
    "Remediation": "PARAM_REMEDIATION",
    "RemediationIndex": "PARAM_REMEDIATION_INDEX",
    "EventsIndex": "PARAM_EVENTS_INDEX",
    "FindingsIndex": "PARAM_FINDINGS_INDEX",
    "Architecture": "PARAM_ARCHITECTURE",
    "ReservedConcurrency": "PARAM_RESERVED_CONCURRENCY",
    "ScheduleState": "PARAM_SCHEDULE_STATE",
    "AlarmTopicArn": "PARAM_ALARM_TOPIC_ARN",
}
with open(sys.argv[1], "w", encoding="utf-8") as stream:
    json.dump([f"{name}={os.environ[variable]}" for name, variable in names.items()], stream)
EOF
}

# Creates or updates the stack with the schedule in the given state.
deploy_stack() {
  local schedule_state="$1"
  local parameters="${WORK_DIR}/parameters.json"
  write_parameters "${schedule_state}" "${parameters}"
  info "Deploying stack ${STACK_NAME} (schedule ${schedule_state})"
  aws_cli cloudformation deploy --template-file "${TEMPLATE}" --stack-name "${STACK_NAME}" \
    --capabilities CAPABILITY_NAMED_IAM --no-fail-on-empty-changeset \
    --parameter-overrides "file://${parameters}"
  rm -f "${parameters}"
}

# Replaces the function's code with lambda-deployment.zip and waits until it is live.
upload_code() {
  info "Uploading lambda-deployment.zip to ${FUNCTION_NAME}"
  # --query: the full answer would include the environment, i.e. the key.
  aws_cli lambda update-function-code --function-name "${FUNCTION_NAME}" \
    --zip-file "fileb://${ZIP_PATH}" --query 'CodeSha256' --output text
  aws_cli lambda wait function-updated --function-name "${FUNCTION_NAME}"
}

deploy() {
  local first_state
  read_stack
  resolve_seed
  # A new stack (or one whose schedule was never enabled) keeps the schedule off
  # until the real code is in place; a live schedule stays on during updates.
  first_state="DISABLED"
  if [[ "${STACK_STATE}" == "ENABLED" ]]; then
    first_state="ENABLED"
  fi
  deploy_stack "${first_state}"
  upload_code
  if [[ "${first_state}" != "ENABLED" ]]; then
    deploy_stack ENABLED
  fi
  info "Deployed ${FUNCTION_NAME}; the hourly schedule is enabled."
  info "Logs: aws logs tail /aws/lambda/${FUNCTION_NAME} --follow"
  if [[ -n "${GENERATOR_SEED_SECRET_ARN}" ]]; then
    info "Grade with: GENERATOR_SEED_SECRET_ARN=${GENERATOR_SEED_SECRET_ARN} python lambda/evaluate.py ..."
  fi
}

delete_stack() {
  info "Deleting stack ${STACK_NAME}"
  aws_cli cloudformation delete-stack --stack-name "${STACK_NAME}"
  aws_cli cloudformation wait stack-delete-complete --stack-name "${STACK_NAME}"
  info "Deleted stack ${STACK_NAME}"
  info "A seed secret ${STACK_NAME}-generator-seed is kept: a stack deployed again under this name" \
    "goes on with the same seed (aws secretsmanager delete-secret removes it)"
}

cleanup() {
  if [[ -n "${WORK_DIR}" ]]; then
    rm -rf "${WORK_DIR}"
  fi
}

main() {
  parse_args "$@"
  case "${ACTION}" in
    delete)
      check_commands aws
      delete_stack
      ;;
    package)
      check_build_inputs
      check_commands python3 zip
      check_pip
      build_package
      ;;
    deploy)
      check_build_inputs
      check_deploy_inputs
      check_commands aws python3 zip
      check_pip
      WORK_DIR="$(mktemp -d)"
      trap cleanup EXIT
      build_package
      deploy
      ;;
  esac
}

main "$@"
