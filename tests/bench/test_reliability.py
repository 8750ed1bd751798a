"""bench/reliability.py runs its cases from the registry and fails when one does not hold."""

from bench import reliability


def test_the_id_cases_hold_and_the_table_has_totals(capsys):
    assert reliability.main(["--only", "id:"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("| case | expected | held | nothing lost | detail |")
    tried = sum(case.name.startswith("id:") for case in reliability.CASES)
    assert f"cases tried: {tried} / held: {tried} / nothing lost: {tried}" in out


def test_a_registered_case_that_does_not_hold_fails_the_run(monkeypatch, capsys):
    monkeypatch.setattr(reliability, "CASES", [])

    @reliability.case("zz: a defence that gave way", "refused")
    def gave_way(sandbox):
        (sandbox / "kept.bin").write_bytes(b"corrupt")
        return reliability.Outcome(False, "accepted it", nothing_lost=False)

    @reliability.case("zz: a crash", "refused")
    def crashed(sandbox):
        raise KeyError("boom")

    assert reliability.main(["--only", "zz:"]) == 1
    out = capsys.readouterr().out
    assert "| zz: a crash | refused | **NO** | yes | unexpected KeyError: 'boom' (crashed) |" in out
    assert "cases tried: 2 / held: 0 / nothing lost: 1" in out
