"""Contract tests between cloudformation.yml, the code, deploy.sh and README.md.

cfn-lint (make lint) checks the template against the CloudFormation schema; these
check that it fits this project: the handler exists, every variable the code
reads is set or documented, the numbers match what README promises.
"""

from __future__ import annotations

import importlib
import json
import re
from pathlib import Path

import pytest
from cfnlint.decode import cfn_yaml

import config

ROOT = Path(__file__).resolve().parent.parent
TEMPLATE_PATH = ROOT / "cloudformation.yml"
README = (ROOT / "README.md").read_text(encoding="utf-8")
# The deployment details README links to; the numbers it promises are checked there.
DEPLOYMENT = (ROOT / "docs" / "deployment.md").read_text(encoding="utf-8")
DEPLOY_SH = (ROOT / "deploy.sh").read_text(encoding="utf-8")

# What Lambda accepts as LoggingConfig.ApplicationLogLevel.
LAMBDA_LOG_LEVELS = {"TRACE", "DEBUG", "INFO", "WARN", "ERROR", "FATAL"}


def section(title: str) -> str:
    """The text of a README `## title` section, up to the next `## `."""
    match = re.search(rf"^## {re.escape(title)}\n(.*?)(?=^## )", README, re.S | re.M)
    assert match, f"README has no '## {title}' section"
    return match.group(1)



@pytest.fixture(scope="module")
def template():
    return cfn_yaml.loads(TEMPLATE_PATH.read_text(encoding="utf-8"))


def resources_of(template, kind: str) -> dict:
    return {name: res for name, res in template["Resources"].items() if res["Type"] == kind}


def only(template, kind: str):
    found = resources_of(template, kind)
    assert len(found) == 1, f"expected one {kind}, found {sorted(found)}"
    return next(iter(found.items()))


@pytest.fixture(scope="module")
def function(template):
    return only(template, "AWS::Lambda::Function")[1]["Properties"]


def env_vars(function) -> dict:
    return function["Environment"]["Variables"]


def code_env_names() -> set[str]:
    """The environment variables lambda/config.py declares it reads."""
    source = (ROOT / "lambda" / "config.py").read_text(encoding="utf-8")
    block = source.split("# Environment variables the function reads.", 1)[1].split("\n\n", 1)[0]
    names = set(re.findall(r'^[A-Z_]+ = "([A-Z_]+)"', block, re.M))
    assert names, "no environment variable constants found in lambda/config.py"
    return names


def readme_optional_variables() -> set[str]:
    """Variables of README's Configuration table whose default is (none)."""
    rows = re.findall(r"^\| `([A-Z_]+)` \| ([^|]+) \|", section("Configuration"), re.M)
    return {name for name, default in rows if default.strip() == "(none)"}


# --- the handler -----------------------------------------------------------------------


def test_handler_resolves_to_the_real_function(function):
    module_name, _, attribute = function["Handler"].rpartition(".")
    assert (ROOT / "lambda" / f"{module_name}.py").is_file()
    module = importlib.import_module(module_name)
    assert callable(getattr(module, attribute))


def test_placeholder_code_cannot_run_under_the_handler(function):
    # Inline ZipFile code lands in index.py; the handler names another module, so
    # the placeholder is never executed, even if invoked before deploy.sh uploads.
    assert "ZipFile" in function["Code"]
    assert function["Handler"].rpartition(".")[0] != "index"


def test_schedule_starts_disabled_and_deploy_enables_it(template):
    rule = only(template, "AWS::Events::Rule")[1]["Properties"]
    assert rule["State"] == {"Ref": "ScheduleState"}
    assert template["Parameters"]["ScheduleState"]["Default"] == "DISABLED"
    assert "deploy_stack ENABLED" in DEPLOY_SH
    # Enabling comes after the code upload.
    body = DEPLOY_SH.split("\ndeploy() {", 1)[1].split("\n}\n", 1)[0]
    assert body.index("upload_code") < body.index("deploy_stack ENABLED")


# --- environment -----------------------------------------------------------------------


def test_every_variable_the_code_reads_is_set_or_documented_optional(function):
    set_by_template = set(env_vars(function))
    optional = readme_optional_variables()
    missing = {name for name in code_env_names() if name not in set_by_template and name not in optional}
    assert not missing, f"read by the code, neither set by the template nor documented as optional: {missing}"


def test_template_sets_only_variables_the_code_reads(function):
    assert set(env_vars(function)) <= code_env_names()


def test_environment_carries_the_contract_variables(function):
    variables = env_vars(function)
    for name in (config.ELASTICSEARCH_HOST, config.ELASTICSEARCH_INDEX, config.MERCHANT_COUNT,
                 config.GENERATOR_SEED, config.LOG_LEVEL):
        assert name in variables
    assert variables[config.LOG_LEVEL] == {"Ref": "LogLevel"}


def test_exactly_one_key_variable_is_set(template, function):
    variables = env_vars(function)
    no_value = {"Ref": "AWS::NoValue"}
    assert variables[config.ELASTICSEARCH_API_KEY] == {
        "Fn::If": ["UseSecret", no_value, {"Ref": "ElasticsearchApiKey"}]}
    assert variables[config.ELASTICSEARCH_API_KEY_SECRET_ARN] == {
        "Fn::If": ["UseSecret", {"Ref": "ElasticsearchApiKeySecretArn"}, no_value]}
    assert template["Conditions"]["UseSecret"] == {
        "Fn::Not": [{"Fn::Equals": [{"Ref": "ElasticsearchApiKeySecretArn"}, ""]}]}
    parameters = template["Parameters"]
    assert parameters["ElasticsearchApiKey"]["NoEcho"] is True
    assert parameters["ElasticsearchApiKey"]["Default"] == ""
    assert parameters["ElasticsearchApiKeySecretArn"]["Default"] == ""


# The scenario and closed-loop settings: stack parameter -> environment variable.
SCENARIO_PARAMETERS = {
    "Scenario": config.SCENARIO,
    "GroundTruth": config.GROUND_TRUTH,
    "AnswerKeyIndex": config.ANSWER_KEY_INDEX,
    "Remediation": config.REMEDIATION,
    "RemediationIndex": config.REMEDIATION_INDEX,
    "EventsIndex": config.EVENTS_INDEX,
    "FindingsIndex": config.FINDINGS_INDEX,
}
NO_VALUE = {"Ref": "AWS::NoValue"}


def test_environment_carries_the_scenario_variables(template, function):
    variables = env_vars(function)
    for parameter in ("Scenario", "GroundTruth", "Remediation"):
        assert variables[SCENARIO_PARAMETERS[parameter]] == {"Ref": parameter}
    # The index overrides are unset unless given, so the code derives them from the index.
    for parameter, condition in (("AnswerKeyIndex", "HasAnswerKeyIndex"), ("RemediationIndex", "HasRemediationIndex"),
                                 ("EventsIndex", "HasEventsIndex"), ("FindingsIndex", "HasFindingsIndex")):
        assert variables[SCENARIO_PARAMETERS[parameter]] == {"Fn::If": [condition, {"Ref": parameter}, NO_VALUE]}
        assert template["Conditions"][condition] == {"Fn::Not": [{"Fn::Equals": [{"Ref": parameter}, ""]}]}
        assert template["Parameters"][parameter]["Default"] == ""


def test_scenario_defaults_and_choices_match_the_code(template):
    parameters = template["Parameters"]
    assert parameters["Scenario"]["Default"] == config.DEFAULT_SCENARIO
    assert parameters["GroundTruth"]["Default"] == config.DEFAULT_GROUND_TRUTH
    assert tuple(parameters["GroundTruth"]["AllowedValues"]) == config.GROUND_TRUTH_MODES
    assert parameters["Remediation"]["Default"] == config.DEFAULT_REMEDIATION
    assert tuple(parameters["Remediation"]["AllowedValues"]) == config.REMEDIATION_MODES
    # Every allowed value is one the code accepts as it stands.
    for value in parameters["GroundTruth"]["AllowedValues"]:
        assert config.ground_truth(value) == value
    assert [config.remediation(value) for value in parameters["Remediation"]["AllowedValues"]] == [False, True]


def test_defaults_give_the_code_its_own_defaults(template):
    """The environment the template sets with every default is the code's default config."""
    parameters = template["Parameters"]
    environ = {variable: parameters[parameter]["Default"] for parameter, variable in SCENARIO_PARAMETERS.items()}
    environ[config.ELASTICSEARCH_INDEX] = "shop"
    cfg = config.load_config(environ)
    assert (cfg.scenario, cfg.ground_truth, cfg.remediation) == (
        config.DEFAULT_SCENARIO, config.DEFAULT_GROUND_TRUTH, False)
    assert (cfg.answer_key_index, cfg.remediation_index) == ("shop-incidents", "shop-remediations")
    assert cfg.findings_index is None  # no findings are read


def test_template_defaults_match_the_code(template):
    parameters = template["Parameters"]
    assert parameters["FunctionName"]["Default"] == "pp-merchantai-data-generator"
    assert parameters["ElasticsearchIndex"]["Default"] == config.DEFAULT_INDEX
    assert int(parameters["MerchantCount"]["Default"]) == config.DEFAULT_MERCHANTS
    assert parameters["MerchantCount"]["MaxValue"] == config.MAX_MERCHANTS
    assert int(parameters["GeneratorSeed"]["Default"]) == config.DEFAULT_SEED
    assert parameters["LogLevel"]["Default"] == config.DEFAULT_LOG_LEVEL
    assert tuple(parameters["LogLevel"]["AllowedValues"]) == config.LOG_LEVELS


@pytest.mark.parametrize("pattern_name, good, bad", [
    ("ElasticsearchIndex", ["pp-merchantai", "a.b_c-1"], ["PP", "-x", "a b", ""]),
    ("ElasticsearchHost", ["https://x.es.io:443", "https://x.es.io/prefix"],
     ["http://x.es.io", "https://user:pw@x.es.io", "https://x.es.io?a=1", ""]),
    ("ElasticsearchApiKeySecretArn",
     ["", "arn:aws:secretsmanager:us-east-1:123456789012:secret:es/key-AbC123"],
     ["arn:aws:secretsmanager:us-east-1:123456789012:secret:es/key", "arn:aws:s3:::bucket"]),
])
def test_parameter_patterns_agree_with_the_code(template, pattern_name, good, bad):
    pattern = re.compile(template["Parameters"][pattern_name]["AllowedPattern"])
    for value in good:
        assert pattern.fullmatch(value), value
        if pattern_name == "ElasticsearchIndex":
            config.index_name(value)
        if pattern_name == "ElasticsearchHost":
            config.host_url(value)
    for value in bad:
        assert not pattern.fullmatch(value), value


# Built-in scenarios and file names of lambda/scenarios/*.json pass; everything the code
# refuses is refused by the template too.
SCENARIOS_GOOD = [*config.SCENARIOS, "black-friday.json", "example-checkout-regression.json", "v2_q4.json"]
SCENARIOS_CODE_REFUSES = ["", "chaos", "Steady", "Hard", "harder", "black-friday", "black-friday.JSON", "black-friday.json.bak"]
# Paths the CLI accepts but a deployed function cannot read (only its zip is there).
SCENARIOS_TEMPLATE_REFUSES = ["/tmp/black-friday.json", "../black-friday.json", "scenarios/x.json", ".json",
                              "-x.json", "a b.json"]


def test_scenario_pattern_agrees_with_the_code(template):
    pattern = re.compile(template["Parameters"]["Scenario"]["AllowedPattern"])
    for value in SCENARIOS_GOOD:
        assert pattern.fullmatch(value), value
        assert config.scenario(value) == value
    for value in SCENARIOS_CODE_REFUSES:
        assert not pattern.fullmatch(value), value
        with pytest.raises(config.ConfigError, match="^SCENARIO must be"):
            config.scenario(value)
    for value in SCENARIOS_TEMPLATE_REFUSES:
        assert not pattern.fullmatch(value), value


def test_every_built_in_scenario_is_named_in_the_template_and_deploy_sh(template):
    parameter = template["Parameters"]["Scenario"]
    assert config.SCENARIOS == ("steady", "incidents", "hard")
    for name in config.SCENARIOS:
        assert name in parameter["AllowedPattern"][2:].split("|") and name in parameter["ConstraintDescription"]
        assert re.search(rf"--scenario NAME .*\b{name}\b", DEPLOY_SH)


def test_every_shipped_scenario_file_is_deployable(template):
    pattern = re.compile(template["Parameters"]["Scenario"]["AllowedPattern"])
    files = sorted((ROOT / "lambda" / "scenarios").glob("*.json"))
    assert files, "lambda/scenarios/ holds no scenario file"
    for path in files:
        assert pattern.fullmatch(path.name), path.name


@pytest.mark.parametrize("parameter", ["AnswerKeyIndex", "RemediationIndex", "EventsIndex", "FindingsIndex"])
def test_index_override_patterns_agree_with_the_code(template, parameter):
    pattern = re.compile(template["Parameters"][parameter]["AllowedPattern"])
    variable = SCENARIO_PARAMETERS[parameter]
    assert pattern.fullmatch("")  # the default: derived from ElasticsearchIndex
    for value in ["pp-merchantai-incidents", "truth.v2", "fixes_1"]:
        assert pattern.fullmatch(value), value
        assert config.index_name(value, variable) == value
    for value in ["Truth", "-x", "_x", "+x", "a b", "a,b", "a*", "a:b", "x" * 256]:
        assert not pattern.fullmatch(value), value
        with pytest.raises(config.ConfigError, match=f"^{variable} must be a valid"):
            config.index_name(value, variable)


def test_deploy_script_checks_the_template_patterns(template):
    """deploy.sh refuses bad values before any AWS call with the template's own patterns."""
    def shell_pattern(name: str) -> str:
        match = re.search(rf"^readonly {name}='([^']*)'$", DEPLOY_SH, re.M)
        assert match, f"deploy.sh has no {name}"
        return match.group(1)

    parameters = template["Parameters"]
    assert shell_pattern("SCENARIO_PATTERN") == parameters["Scenario"]["AllowedPattern"]
    index = shell_pattern("INDEX_PATTERN")
    assert index == parameters["ElasticsearchIndex"]["AllowedPattern"]
    for parameter in ("AnswerKeyIndex", "RemediationIndex", "EventsIndex", "FindingsIndex"):
        # The same rule, plus the empty default.
        assert parameters[parameter]["AllowedPattern"] == "^(|" + index[1:-1] + ")$"
    assert f'GROUND_TRUTH_MODES="{" ".join(config.GROUND_TRUTH_MODES)}"' in DEPLOY_SH
    assert f'REMEDIATION_MODES="{" ".join(config.REMEDIATION_MODES)}"' in DEPLOY_SH
    assert f'SCENARIO="${{SCENARIO:-{config.DEFAULT_SCENARIO}}}"' in DEPLOY_SH
    assert f'GROUND_TRUTH="${{GROUND_TRUTH:-{config.DEFAULT_GROUND_TRUTH}}}"' in DEPLOY_SH
    assert f'REMEDIATION="${{REMEDIATION:-{config.DEFAULT_REMEDIATION}}}"' in DEPLOY_SH


def test_log_level_reaches_lambda_in_its_own_names(template, function):
    logging_config = function["LoggingConfig"]
    assert logging_config["LogFormat"] == "JSON"
    assert logging_config["ApplicationLogLevel"] == {"Fn::FindInMap": ["LogLevels", {"Ref": "LogLevel"}, "Lambda"]}
    mapping = template["Mappings"]["LogLevels"]
    assert set(mapping) == set(config.LOG_LEVELS)
    assert {entry["Lambda"] for entry in mapping.values()} <= LAMBDA_LOG_LEVELS
    assert mapping["DEBUG"]["Lambda"] == "DEBUG" and mapping["INFO"]["Lambda"] == "INFO"


# --- the scenario settings in README and docs/deployment.md -------------------------------


def readme_defaults() -> dict:
    rows = re.findall(r"^\| `([A-Z_]+)` \| ([^|]+) \|", section("Configuration"), re.M)
    return {name: default.strip() for name, default in rows}


def test_readme_documents_every_variable_the_code_reads():
    assert code_env_names() <= set(readme_defaults())


def test_readme_defaults_of_the_scenario_variables_match_the_code():
    defaults = readme_defaults()
    assert defaults[config.SCENARIO] == f"`{config.DEFAULT_SCENARIO}`"
    assert defaults[config.GROUND_TRUTH] == f"`{config.DEFAULT_GROUND_TRUTH}`"
    assert defaults[config.REMEDIATION] == f"`{config.DEFAULT_REMEDIATION}`"
    assert defaults[config.ANSWER_KEY_INDEX] == f"`<{config.ELASTICSEARCH_INDEX}>{config.ANSWER_KEY_SUFFIX}`"
    assert defaults[config.REMEDIATION_INDEX] == f"`<{config.ELASTICSEARCH_INDEX}>{config.REMEDIATION_SUFFIX}`"
    assert defaults[config.EVENTS_INDEX] == f"`<{config.ELASTICSEARCH_INDEX}>{config.EVENTS_SUFFIX}`"


@pytest.mark.parametrize("parameter, flag", [
    ("Scenario", "--scenario"), ("GroundTruth", "--ground-truth"), ("AnswerKeyIndex", "--answer-key-index"),
    ("Remediation", "--remediation"), ("RemediationIndex", "--remediation-index"), ("EventsIndex", "--events-index"),
    ("FindingsIndex", "--findings-index"),
])
def test_scenario_parameters_are_documented_with_their_flags(template, parameter, flag):
    variable = SCENARIO_PARAMETERS[parameter]
    rows = [row for row in re.findall(r"^\|.*\|$", DEPLOYMENT, re.M) if f"`{parameter}`" in row]
    assert len(rows) == 1, f"docs/deployment.md's Parameters table has no single row for {parameter}"
    assert f"`{variable}` or `{flag} " in rows[0] and f"env `{variable}`" in rows[0]
    assert re.search(rf"^  {flag} +[A-Z]+ ", DEPLOY_SH, re.M), f"deploy.sh --help does not list {flag}"
    assert f"  {flag}) " in DEPLOY_SH


def test_documented_function_key_privileges_name_the_code_indices():
    text = DEPLOYMENT.split("## The function's Elasticsearch key", 1)[1]
    request = re.search(r"^POST /_security/api_key\n(.*?)^```", text, re.S | re.M)
    assert request, "docs/deployment.md has no API key request for the function"
    descriptor = json.loads(request.group(1))["role_descriptors"]["data-generator"]
    assert descriptor["cluster"] == ["manage_index_templates"]
    index = config.DEFAULT_INDEX
    assert descriptor["indices"] == [
        {"names": [index, index + config.ANSWER_KEY_SUFFIX, index + config.EVENTS_SUFFIX],
         "privileges": ["write", "auto_configure"]},
        # It reads its own records of what it saw in the answer key (docs/closed-loop.md).
        {"names": [index + config.REMEDIATION_SUFFIX, index + config.ANSWER_KEY_SUFFIX], "privileges": ["read"]},
    ]


# --- numbers the docs promise ------------------------------------------------------------


def readme_number(pattern: str) -> str:
    match = re.search(pattern, DEPLOYMENT)
    assert match, f"docs/deployment.md does not say {pattern!r}"
    return match.group(1)


def test_runtime_memory_timeout_match_readme(function):
    assert function["Runtime"] == readme_number(r"runtime `(python3\.\d+)`")
    assert function["MemorySize"] == int(readme_number(r"memory (\d+) MB"))
    assert function["Timeout"] == int(readme_number(r"timeout (\d+) s\b"))
    assert function["Architectures"] == [{"Ref": "Architecture"}]


def test_architecture_default_matches_readme_and_deploy_script(template):
    default = template["Parameters"]["Architecture"]["Default"]
    assert default == readme_number(r"architecture `(arm64|x86_64)`")
    assert f'ARCHITECTURE="${{LAMBDA_ARCHITECTURE:-{default}}}"' in DEPLOY_SH
    python = readme_number(r"runtime `python(3\.\d+)`")
    assert f'PYTHON_VERSION="{python}"' in DEPLOY_SH


def test_log_retention_matches_readme(template, function):
    name, log_group = only(template, "AWS::Logs::LogGroup")
    props = log_group["Properties"]
    assert props["RetentionInDays"] == int(readme_number(r"retention (\d+) days"))
    assert props["LogGroupName"] == {"Fn::Sub": "/aws/lambda/${FunctionName}"}
    assert function["LoggingConfig"]["LogGroup"] == {"Ref": name}


def test_schedule_matches_readme(template):
    rule = only(template, "AWS::Events::Rule")[1]["Properties"]
    assert rule["ScheduleExpression"] == readme_number(r"schedule `(rate\([^)]*\))`")
    assert rule["ScheduleExpression"] == "rate(1 hour)"


# --- failures are never dropped ---------------------------------------------------------


def test_rule_targets_the_function_with_retries_and_dead_letters(template):
    function_name, _ = only(template, "AWS::Lambda::Function")
    queue_name, _ = only(template, "AWS::SQS::Queue")
    [target] = only(template, "AWS::Events::Rule")[1]["Properties"]["Targets"]
    assert target["Arn"] == {"Fn::GetAtt": [function_name, "Arn"]}
    assert 0 < target["RetryPolicy"]["MaximumRetryAttempts"] <= 185
    assert 60 <= target["RetryPolicy"]["MaximumEventAgeInSeconds"] <= 86400
    assert target["DeadLetterConfig"]["Arn"] == {"Fn::GetAtt": [queue_name, "Arn"]}


def test_failed_invocations_go_to_the_queue(template):
    function_name, _ = only(template, "AWS::Lambda::Function")
    queue_name, _ = only(template, "AWS::SQS::Queue")
    props = only(template, "AWS::Lambda::EventInvokeConfig")[1]["Properties"]
    assert props["FunctionName"] == {"Ref": function_name}
    assert 0 <= props["MaximumRetryAttempts"] <= 2
    assert 60 <= props["MaximumEventAgeInSeconds"] <= 21600
    assert props["DestinationConfig"]["OnFailure"]["Destination"] == {"Fn::GetAtt": [queue_name, "Arn"]}


def test_queue_policy_admits_only_this_rule(template):
    rule_name, _ = only(template, "AWS::Events::Rule")
    [statement] = only(template, "AWS::SQS::QueuePolicy")[1]["Properties"]["PolicyDocument"]["Statement"]
    assert statement["Principal"] == {"Service": "events.amazonaws.com"}
    assert statement["Action"] == "sqs:SendMessage"
    assert statement["Condition"] == {"ArnEquals": {"aws:SourceArn": {"Fn::GetAtt": [rule_name, "Arn"]}}}


def test_invoke_permission_is_scoped_to_the_rule(template):
    rule_name, _ = only(template, "AWS::Events::Rule")
    props = only(template, "AWS::Lambda::Permission")[1]["Properties"]
    assert props["Principal"] == "events.amazonaws.com"
    assert props["Action"] == "lambda:InvokeFunction"
    assert props["SourceArn"] == {"Fn::GetAtt": [rule_name, "Arn"]}


def test_alarms_watch_errors_and_the_queue(template):
    alarms = [res["Properties"] for res in resources_of(template, "AWS::CloudWatch::Alarm").values()]
    metrics = {(alarm["Namespace"], alarm["MetricName"]) for alarm in alarms}
    assert ("AWS/Lambda", "Errors") in metrics
    assert ("AWS/SQS", "ApproximateNumberOfMessagesVisible") in metrics


# --- least privilege --------------------------------------------------------------------


def policy_statements(template):
    role_name, role = only(template, "AWS::IAM::Role")
    for policy in role["Properties"]["Policies"]:
        yield from policy["PolicyDocument"]["Statement"]
    for policy in resources_of(template, "AWS::IAM::Policy").values():
        assert policy["Properties"]["Roles"] == [{"Ref": role_name}]
        yield from policy["Properties"]["PolicyDocument"]["Statement"]


def test_role_has_no_wildcards(template):
    statements = list(policy_statements(template))
    assert statements
    for statement in statements:
        actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
        assert all("*" not in action for action in actions), statement
        assert statement["Resource"] != "*" and isinstance(statement["Resource"], dict), statement


def test_role_grants_exactly_what_the_function_needs(template):
    log_group, _ = only(template, "AWS::Logs::LogGroup")
    queue, _ = only(template, "AWS::SQS::Queue")
    granted = []
    for statement in policy_statements(template):
        actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
        granted += [(action, json.dumps(statement["Resource"])) for action in actions]
    assert sorted(granted) == sorted((action, json.dumps(resource)) for action, resource in [
        ("logs:CreateLogStream", {"Fn::GetAtt": [log_group, "Arn"]}),
        ("logs:PutLogEvents", {"Fn::GetAtt": [log_group, "Arn"]}),
        ("sqs:SendMessage", {"Fn::GetAtt": [queue, "Arn"]}),
        ("secretsmanager:GetSecretValue", {"Ref": "ElasticsearchApiKeySecretArn"}),
        ("secretsmanager:GetSecretValue", {"Ref": "GeneratorSeedSecretArn"}),
    ])


def test_secret_permissions_exist_only_with_their_secrets(template):
    policies = resources_of(template, "AWS::IAM::Policy")
    assert {name: policy["Condition"] for name, policy in policies.items()} == {
        "SecretReadPolicy": "UseSecret", "SeedSecretReadPolicy": "UseSeedSecret"}
    for policy in policies.values():
        [statement] = policy["Properties"]["PolicyDocument"]["Statement"]
        assert statement["Action"] == "secretsmanager:GetSecretValue"


# --- readability ------------------------------------------------------------------------


def test_every_resource_has_a_comment_header():
    lines = TEMPLATE_PATH.read_text(encoding="utf-8").splitlines()
    start = lines.index("Resources:")
    end = lines.index("Outputs:")
    for number in range(start + 1, end):
        if re.fullmatch(r"  [A-Za-z0-9]+:", lines[number]):
            assert lines[number - 1].startswith("  #"), f"resource {lines[number].strip()} has no comment header"


def test_outputs_are_described(template):
    outputs = template["Outputs"]
    for name in ("FunctionName", "FunctionArn", "ScheduleRuleName", "ScheduleRuleArn",
                 "FailureQueueUrl", "FailureQueueArn", "LogGroupName"):
        assert outputs[name]["Description"].strip(), name


# --- the Rules section, evaluated ---------------------------------------------------------


def evaluate(expression, parameters: dict, conditions: dict):
    """A rule expression's value for the given parameter values: the intrinsic functions
    a Rules section may use here (Fn::Equals, Fn::Not, Fn::And, Fn::Or, Condition, Ref)."""
    if isinstance(expression, str):
        return expression
    (function, argument), = expression.items()
    if function == "Ref":
        return parameters[argument]
    if function == "Condition":
        return evaluate(conditions[argument], parameters, conditions)
    values = [evaluate(item, parameters, conditions) for item in argument]
    if function == "Fn::Equals":
        left, right = values
        return left == right
    if function == "Fn::Not":
        (value,) = values
        return not value
    if function == "Fn::And":
        return all(values)
    if function == "Fn::Or":
        return any(values)
    raise AssertionError(f"the evaluator does not know {function}")


def refusals(template, **values) -> list:
    """The AssertDescription of every rule assertion that fails for these parameter values."""
    parameters = {name: spec.get("Default", "") for name, spec in template["Parameters"].items()}
    parameters.update(values)
    conditions = template.get("Conditions", {})
    failed = []
    for rule in template["Rules"].values():
        if "RuleCondition" in rule and not evaluate(rule["RuleCondition"], parameters, conditions):
            continue
        for assertion in rule["Assertions"]:
            if not evaluate(assertion["Assert"], parameters, conditions):
                failed.append(assertion["AssertDescription"])
    return failed


ARN = "arn:aws:secretsmanager:us-east-1:123456789012:secret:es/key-AbC123"


@pytest.mark.parametrize(("key", "arn", "refused"), [
    ("a2V5OnNlY3JldA==", "", []),
    ("", ARN, []),
    ("", "", ["Set ElasticsearchApiKey or ElasticsearchApiKeySecretArn."]),
    ("a2V5OnNlY3JldA==", ARN, ["Set only one of ElasticsearchApiKey and ElasticsearchApiKeySecretArn."]),
], ids=["key", "secret-arn", "neither", "both"])
def test_the_rules_admit_exactly_one_of_key_and_secret_arn(template, key, arn, refused):
    assert refusals(template, ElasticsearchApiKey=key, ElasticsearchApiKeySecretArn=arn) == refused


SEED_ARN = "arn:aws:secretsmanager:us-east-1:123456789012:secret:pp/seed-AbC123"


@pytest.mark.parametrize(("seed", "arn", "refused"), [
    ("1729", "", []),
    ("", SEED_ARN, []),
    ("", "", []),  # GENERATOR_SEED blank: the code's default
    ("7", SEED_ARN, ["Set only one of GeneratorSeed and GeneratorSeedSecretArn."]),
], ids=["seed", "secret-arn", "neither", "both"])
def test_the_rules_admit_at_most_one_seed_source(template, seed, arn, refused):
    assert refusals(template, ElasticsearchApiKey="k", GeneratorSeed=seed, GeneratorSeedSecretArn=arn) == refused


def test_the_seed_comes_from_its_secret_or_the_parameter_never_both(template, function):
    variables = env_vars(function)
    assert variables[config.GENERATOR_SEED] == {"Fn::If": ["UseSeedSecret", NO_VALUE, {"Ref": "GeneratorSeed"}]}
    assert variables[config.GENERATOR_SEED_SECRET_ARN] == {
        "Fn::If": ["UseSeedSecret", {"Ref": "GeneratorSeedSecretArn"}, NO_VALUE]}
    assert template["Conditions"]["UseSeedSecret"] == {
        "Fn::Not": [{"Fn::Equals": [{"Ref": "GeneratorSeedSecretArn"}, ""]}]}
    policy = template["Resources"]["SeedSecretReadPolicy"]
    assert policy["Condition"] == "UseSeedSecret"
    [statement] = policy["Properties"]["PolicyDocument"]["Statement"]
    assert statement == {"Effect": "Allow", "Action": "secretsmanager:GetSecretValue",
                         "Resource": {"Ref": "GeneratorSeedSecretArn"}}


def test_seed_patterns_agree_with_the_code(template):
    parameters = template["Parameters"]
    pattern = re.compile(parameters["GeneratorSeed"]["AllowedPattern"])
    assert pattern.fullmatch("")
    for value in ["1729", "-42", "0", str(2**128), str(-2**128)]:
        assert pattern.fullmatch(value), value
        assert config.seed(value) == int(value)
    for value in ["1.5", "0x10", "seed", "1" * 40, "1_000"]:
        assert not pattern.fullmatch(value), value
        with pytest.raises(config.ConfigError, match="the value is not shown"):
            config.seed(value)
    assert (parameters["GeneratorSeedSecretArn"]["AllowedPattern"]
            == parameters["ElasticsearchApiKeySecretArn"]["AllowedPattern"])
    assert parameters["GeneratorSeedSecretArn"]["Default"] == ""


def test_the_rule_evaluator_itself():
    template = {"Parameters": {"A": {}, "B": {"Default": "x"}}, "Conditions": {"BIsX": {"Fn::Equals": [{"Ref": "B"}, "x"]}},
                "Rules": {"R": {"RuleCondition": {"Condition": "BIsX"}, "Assertions": [
                    {"Assert": {"Fn::Or": [{"Fn::Not": [{"Fn::Equals": [{"Ref": "A"}, ""]}]},
                                           {"Fn::And": [{"Condition": "BIsX"}, {"Fn::Equals": ["1", "2"]}]}]},
                     "AssertDescription": "A is set"}]}}}
    assert refusals(template, A="") == ["A is set"]
    assert refusals(template, A="a") == []
    assert refusals(template, A="", B="y") == []  # the rule does not apply


def test_readme_stays_short():
    # A newcomer's page: the long material lives in docs/.
    assert len(README.encode("utf-8")) < 15_000
