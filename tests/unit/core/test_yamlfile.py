"""The one YAML loader (gateway/yamlfile.py): plain data, every error as file:line, bounded."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from gateway.errors import ConfigurationError
from gateway.yamlfile import MAX_DEPTH, MAX_YAML_BYTES, YamlList, YamlMap, load_yaml


def write(tmp_path: Path, text: str | bytes, name: str = "c.yaml") -> Path:
    path = tmp_path / name
    path.write_bytes(text if isinstance(text, bytes) else text.encode("utf-8"))
    return path


def refused(tmp_path: Path, text: str | bytes) -> str:
    with pytest.raises(ConfigurationError) as caught:
        load_yaml(write(tmp_path, text), "conf/c.yaml")
    return str(caught.value)


def test_data_keeps_the_line_of_every_key_and_item(tmp_path: Path) -> None:
    doc = load_yaml(write(tmp_path, "name: X\nservices:\n  - leika: '1'\n    queue: q\n  - leika: '2'\n"), "c.yaml")
    assert doc.data == {"name": "X", "services": [{"leika": "1", "queue": "q"}, {"leika": "2"}]}
    assert isinstance(doc.data, YamlMap) and isinstance(doc.data["services"], YamlList)
    assert doc.data.where("services") == "c.yaml:2"
    assert doc.data["services"].where(1) == "c.yaml:5"
    assert doc.data["services"][0].where("queue") == "c.yaml:4"
    assert doc.line_of(["services", 1, "leika"]) == 5
    assert doc.line_of(["services", 0, "missing"]) == 3  # the deepest part that exists
    assert str(doc.error(["services", 0, "queue"], "bad queue")) == "c.yaml:4: bad queue"


def test_yaml_1_2_scalars(tmp_path: Path) -> None:
    doc = load_yaml(write(tmp_path, "a: yes\nb: true\nc: 010\nd: 1.5\ne: ~\nf: '01'\n"))
    assert doc.data == {"a": "yes", "b": True, "c": 10, "d": 1.5, "e": None, "f": "01"}
    assert str(doc.error([], "x")).startswith(f"{tmp_path / 'c.yaml'}:1: ")  # default name: the path


def test_duplicate_key_at_top_level(tmp_path: Path) -> None:
    assert refused(tmp_path, "a: 1\nb: 2\na: 3\n") == "conf/c.yaml:3: duplicate key 'a' (first at line 1)"


def test_duplicate_key_nested(tmp_path: Path) -> None:
    text = "tenant:\n  ars: '1'\nservices:\n  - leika: '1'\n    name: A\n    name: B\n"
    assert refused(tmp_path, text) == "conf/c.yaml:6: duplicate key 'name' (first at line 5)"


def test_duplicate_key_in_a_flow_mapping(tmp_path: Path) -> None:
    assert refused(tmp_path, "x: 1\na: {k: 1, k: 2}\n").startswith("conf/c.yaml:2: duplicate key 'k'")


def test_keys_must_be_strings(tmp_path: Path) -> None:
    assert refused(tmp_path, "codes:\n  01: Eins\n").startswith("conf/c.yaml:2: keys must be strings")


@pytest.mark.parametrize(("text", "line", "reason"), [
    ("tenant:\n  ars: [unclosed\n", 3, "expected ',' or ']'"),
    ("a: 1\n b: 2\n", 2, "mapping values are not allowed here"),
    ("a: !custom 1\n", 1, "could not determine a constructor for the tag '!custom'"),
    ("a: 1\nb: !!python/object:os.system x\n", 2, "could not determine a constructor"),
    ("a: !!set {x, y}\n", 1, "could not determine a constructor"),
    ("a: !!binary aGFsbG8=\n", 1, "could not determine a constructor"),
    ("a: 1\n---\nb: 2\n", 2, "another document"),
])
def test_every_yaml_error_names_file_and_line(tmp_path: Path, text: str, line: int, reason: str) -> None:
    message = refused(tmp_path, text)
    assert message.startswith(f"conf/c.yaml:{line}: invalid YAML"), message
    assert reason in message


def test_a_billion_laughs_is_refused_at_the_first_alias(tmp_path: Path) -> None:
    lines = ['l0: &l0 ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]']
    lines += [f"l{n}: &l{n} [{', '.join([f'*l{n - 1}'] * 10)}]" for n in range(1, 10)]
    started = time.process_time()
    message = refused(tmp_path, "\n".join(lines) + "\n")
    assert message == "conf/c.yaml:2: invalid YAML: aliases (*name) are not allowed"
    assert time.process_time() - started < 1


def test_a_merge_key_is_refused(tmp_path: Path) -> None:
    assert refused(tmp_path, "a:\n  <<: {b: 1}\n").startswith("conf/c.yaml:2: invalid YAML")


def test_a_huge_file_is_refused_before_parsing(tmp_path: Path) -> None:
    text = "a: '" + "x" * MAX_YAML_BYTES + "'\n"
    assert refused(tmp_path, text) == f"conf/c.yaml:1: file larger than {MAX_YAML_BYTES} bytes"


def test_deep_nesting_is_refused(tmp_path: Path) -> None:
    message = refused(tmp_path, "a: " + "[" * (MAX_DEPTH + 5) + "]" * (MAX_DEPTH + 5) + "\n")
    assert message == f"conf/c.yaml:1: invalid YAML: nested deeper than {MAX_DEPTH} levels"


@pytest.mark.parametrize(("text", "message"), [
    ("", "conf/c.yaml:1: empty file"),
    ("# only a comment\n", "conf/c.yaml:1: empty file"),
    (b"a: \xff\n", "conf/c.yaml:1: cannot read file (UnicodeDecodeError)"),
])
def test_empty_and_unreadable_files(tmp_path: Path, text: str | bytes, message: str) -> None:
    assert refused(tmp_path, text) == message


def test_a_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match=r"^conf/x\.yaml:1: cannot read file \(FileNotFoundError\)$"):
        load_yaml(tmp_path / "x.yaml", "conf/x.yaml")
