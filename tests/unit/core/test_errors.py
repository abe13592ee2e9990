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


def test_a_recorded_problem_keeps_what_a_rejection_needs() -> None:
    original = errors.TrustLevelTooLow("needs hoch", required="hoch")
    problem = errors.Problem.of(original)
    assert (problem.type, problem.status, problem.detail) == (original.type_uri, 403, "needs hoch")
    assert problem.extensions == {"required": "hoch"}
    assert errors.Problem.from_dict(problem.to_dict()) == problem
    assert problem.to_dict() == original.to_problem()


def test_a_problem_knows_the_error_class_it_was_recorded_from() -> None:
    problem = errors.Problem.of(errors.TrustLevelTooLow("needs hoch"))
    assert problem.is_a(errors.TrustLevelTooLow) and problem.is_a(errors.PermanentError)
    assert not problem.is_a(errors.UnknownService) and not problem.is_a(errors.TransientError)
    foreign = errors.Problem.from_dict({"type": "urn:x", "detail": "d"})
    assert not foreign.is_a(errors.GatewayError) and foreign.status == 500


def test_an_unexpected_error_is_recorded_by_its_class_only() -> None:
    problem = errors.Problem.of(ValueError("Erika Mustermann, born 12.08.1964"))
    assert problem.detail == "ValueError" and "Erika" not in str(problem.to_dict())
