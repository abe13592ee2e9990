from __future__ import annotations

from gateway import errors


def test_problem_has_stable_type_and_status() -> None:
    problem = errors.UnknownService("not offered", service="99000000000000").to_problem("/v1/applications")
    assert problem == {"type": "https://rathaus-gateway.de/problems/unknown-service",
                       "title": "Service not offered by this municipality", "status": 422, "detail": "not offered",
                       "instance": "/v1/applications", "service": "99000000000000"}


def test_every_error_class_has_its_own_type_uri() -> None:
    def walk(cls: type[errors.GatewayError]) -> list[type[errors.GatewayError]]:
        return [cls] + [c for sub in cls.__subclasses__() for c in walk(sub)]

    classes = [c for c in walk(errors.GatewayError) if c.__module__ == "gateway.errors"]
    slugs = [c.slug for c in classes]
    assert len(slugs) == len(set(slugs)), "two error classes share a problem type"


def test_recorded_permanent_error_is_rebuilt_with_its_class() -> None:
    original = errors.TrustLevelTooLow("needs hoch", required="hoch")
    rebuilt = errors.permanent_from_problem(original.to_problem())
    assert type(rebuilt) is errors.TrustLevelTooLow
    assert rebuilt.detail == "needs hoch"
    assert rebuilt.extensions == {"required": "hoch"}


def test_unknown_recorded_type_becomes_plain_permanent_error() -> None:
    rebuilt = errors.permanent_from_problem({"type": "urn:x", "detail": "d"})
    assert type(rebuilt) is errors.PermanentError
