"""A declarative workflow document of any shape gives a workflow or
:class:`~imflow.InvalidWorkflow`, never a ``TypeError`` from deep inside."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from imflow import InvalidWorkflow
from imflow._workflow_doc import MalformedWorkflow, shape_problems
from imflow.workflow import Workflow, bw_integrationsmanagement

KEYS = ["id", "extends", "initial", "phases", "commands", "allow_in", "add_guards", "labels",
        "name", "sources", "target", "guards", "final", "label_de", "label_en", "de", "en",
        "close_case", "monitoring", "intake"]  # fmt: skip
scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(allow_nan=False),
    st.sampled_from(["bw-integrationsmanagement", "intake", "monitoring", "closed", "x"]),
    st.text(max_size=5),
)
values = st.recursive(
    scalars,
    lambda inner: (
        st.lists(inner, max_size=3)
        | st.dictionaries(st.sampled_from(KEYS) | st.text(max_size=3), inner, max_size=4)
    ),
    max_leaves=12,
)
documents = st.dictionaries(st.sampled_from(KEYS), values, max_size=6)


@settings(max_examples=500, deadline=None)
@given(documents)
def test_any_document_builds_a_workflow_or_names_its_problems(doc: dict[str, Any]) -> None:
    try:
        Workflow.from_mapping(doc)
    except InvalidWorkflow as exc:
        assert exc.problems and all(isinstance(p, str) for p in exc.problems)
        if shape_problems(doc):
            assert isinstance(exc, MalformedWorkflow)


@settings(max_examples=200, deadline=None)
@given(documents)
def test_a_well_shaped_variant_of_the_default_never_crashes(doc: dict[str, Any]) -> None:
    doc = {**doc, "extends": "bw-integrationsmanagement"}
    try:
        variant = Workflow.from_mapping(doc)
    except InvalidWorkflow as exc:
        assert exc.problems
    else:  # a variant keeps every phase and command of the default
        default = bw_integrationsmanagement()
        assert {p.name for p in default.phases} <= {p.name for p in variant.phases}
        assert {c.name for c in default.commands} <= {c.name for c in variant.commands}


def test_the_default_workflow_round_trips_through_its_own_document() -> None:
    document = bw_integrationsmanagement().to_mapping()
    assert shape_problems(document) == []
    assert Workflow.from_json(json.dumps(document)) == bw_integrationsmanagement()


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("[" * 50_000 + "]" * 50_000, "not valid JSON: nested too deeply"),
        ('{"id": ' + "9" * 5000 + "}", "not valid JSON: a number with too many digits"),
        ("[1]", "a workflow document must be a JSON object"),
    ],
)
def test_json_that_is_no_workflow_document(text: str, problem: str) -> None:
    with pytest.raises(MalformedWorkflow) as caught:
        Workflow.from_json(text)
    assert caught.value.problems == (problem,)


def test_toml_nested_too_deeply() -> None:
    with pytest.raises(MalformedWorkflow) as caught:
        Workflow.from_toml("id = " + "[" * 5000 + "]" * 5000)
    assert caught.value.problems == ("not valid TOML: nested too deeply",)
