"""`Config`: typed values from the `ConfigProvider` in scope; `ConfigError` names the key."""

from __future__ import annotations

import pytest

from durable_effect.effect import (
    Config,
    ConfigError,
    ConfigProvider,
    Duration,
    Effect,
    EffectGen,
    Fail,
    Failure,
    Layer,
    Secret,
    gen,
    provide,
    run_sync,
    run_sync_exit,
)


def read(config: Effect[object, ConfigError], **values: object) -> object:
    return run_sync(config.pipe(provide(Layer.succeed(ConfigProvider, ConfigProvider.from_mapping(values)))))


def error(config: Effect[object, ConfigError], **values: object) -> ConfigError:
    ex = run_sync_exit(config.pipe(provide(Layer.succeed(ConfigProvider, ConfigProvider.from_mapping(values)))))
    assert isinstance(ex, Failure) and isinstance(ex.cause, Fail), ex
    err = ex.cause.error
    assert isinstance(err, ConfigError)
    return err


def test_each_primitive_reads_its_type() -> None:
    assert read(Config.string("HOST"), HOST="example.org") == "example.org"
    assert read(Config.int("PORT"), PORT="8080") == 8080
    assert read(Config.int("PORT"), PORT=" 81 ") == 81
    assert read(Config.float("RATE"), RATE="0.25") == 0.25
    assert [read(Config.bool("ON"), ON=v) for v in ("true", "Yes", "on", "1")] == [True] * 4
    assert [read(Config.bool("ON"), ON=v) for v in ("FALSE", "no", "off", "0")] == [False] * 4
    assert read(Config.bool("ON"), ON=True) is True  # a mapping may hold non-strings
    assert read(Config.duration("TTL"), TTL="5 minutes") == Duration.minutes(5)
    assert read(Config.duration("TTL"), TTL="250") == Duration(250)
    assert read(Config.literal("MODE", "dev", "prod"), MODE="prod") == "prod"


def test_a_secret_hides_its_value() -> None:
    secret = read(Config.secret("TOKEN"), TOKEN="hunter2")
    assert isinstance(secret, Secret)
    assert secret.value == "hunter2"
    assert "hunter2" not in repr(secret) and "hunter2" not in str(secret)
    assert secret == Secret("hunter2")


def test_a_missing_value_is_a_config_error_naming_the_key() -> None:
    err = error(Config.int("PORT"))
    assert err == ConfigError("PORT", "missing", "PORT is not set")


@pytest.mark.parametrize(
    ("config", "raw", "expected"),
    [
        (Config.int("V"), "eighty", "an integer"),
        (Config.float("V"), "fast", "a number"),
        (Config.bool("V"), "maybe", "a boolean"),
        (Config.duration("V"), "soonish", "a duration"),
        (Config.literal("V", "dev", "prod"), "staging", "one of 'dev', 'prod'"),
    ],
)
def test_an_invalid_value_is_a_config_error_naming_the_key(config: Config[object], raw: str, expected: str) -> None:
    err = error(config, V=raw)
    assert (err.key, err.reason) == ("V", "invalid")
    assert err.message.startswith(f"V should be {expected}")
    assert repr(raw) in err.message


def test_with_default_and_optional_cover_a_missing_value_only() -> None:
    assert read(Config.int("PORT").with_default(8080)) == 8080
    assert read(Config.int("PORT").with_default(8080), PORT="81") == 81
    assert read(Config.int("PORT").optional()) is None
    assert read(Config.int("PORT").optional(), PORT="81") == 81
    assert error(Config.int("PORT").with_default(8080), PORT="x").reason == "invalid"
    assert error(Config.int("PORT").optional(), PORT="x").reason == "invalid"


def test_nested_prefixes_build_the_key_outermost_first() -> None:
    assert read(Config.int("PORT").nested("SERVER"), SERVER_PORT="9000") == 9000
    assert read(Config.int("PORT").nested("SERVER").nested("APP"), APP_SERVER_PORT="1") == 1
    assert error(Config.int("PORT").nested("SERVER")).key == "SERVER_PORT"
    dotted = Layer.succeed(ConfigProvider, ConfigProvider.from_mapping({"server.port": "7"}, separator="."))
    assert run_sync(provide(Config.int("port").nested("server"), dotted)) == 7


def test_map_transforms_the_value() -> None:
    assert read(Config.string("NAMES").map(lambda s: s.split(",")), NAMES="a,b") == ["a", "b"]


def test_the_environment_is_the_default_provider(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DURABLE_EFFECT_TEST_PORT", "4242")
    monkeypatch.delenv("DURABLE_EFFECT_TEST_MISSING", raising=False)
    assert run_sync(Config.int("PORT").nested("TEST").nested("DURABLE_EFFECT")) == 4242
    key = "DURABLE_EFFECT_TEST_MISSING"
    assert run_sync_exit(Config.int(key)) == Failure(Fail(ConfigError(key, "missing", f"{key} is not set")))
    given = Layer.succeed(ConfigProvider, ConfigProvider.from_env({"X": "5"}))
    assert run_sync(provide(Config.int("X"), given)) == 5


def test_configs_compose_in_a_generator_and_are_read_at_each_run() -> None:
    values = {"HOST": "a", "PORT": "1"}
    provider = ConfigProvider.from_mapping(values)

    @gen
    def settings() -> EffectGen[str, ConfigError]:
        host = yield from Config.string("HOST")
        port = yield from Config.int("PORT").with_default(80)
        return f"{host}:{port}"

    eff = settings().pipe(provide(Layer.succeed(ConfigProvider, provider)))
    assert run_sync(eff) == "a:1"
    del values["PORT"]
    assert run_sync(eff) == "a:80"


def test_an_object_provider_reads_attributes_like_a_worker_env() -> None:
    class Env:
        SHOP_URL = "https://example.org"
        SHOP_RETRIES = 3
        SHOP_ON = False

    env = Layer.succeed(ConfigProvider, ConfigProvider.from_object(Env()))
    assert run_sync(provide(Config.string("URL").nested("SHOP"), env)) == "https://example.org"
    assert run_sync(provide(Config.int("RETRIES").nested("SHOP"), env)) == 3
    assert run_sync(provide(Config.bool("ON").nested("SHOP"), env)) is False
    assert run_sync(provide(Config.int("MISSING").optional(), env)) is None
