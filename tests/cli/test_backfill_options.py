"""``rayab backfill`` takes its range as ``--start``/``--end`` like every other command; ``--from``/``--to`` are
hidden, deprecated aliases that still work."""

from __future__ import annotations

import pytest

from rayab.cli.main import build_parser, main


def _parse(*flags: str) -> tuple[str, str]:
    args = build_parser(["backfill"]).parse_args(["backfill", *flags, "--logs", "logs"])
    return args.start, args.end


def test_start_and_end_name_the_range() -> None:
    assert _parse("--start", "2026-11-24T00", "--end", "2026-11-25T00") == ("2026-11-24T00", "2026-11-25T00")


def test_from_and_to_still_work_and_say_what_replaces_them(capsys: pytest.CaptureFixture[str]) -> None:
    assert _parse("--from", "2026-11-24T00", "--to", "2026-11-25T00") == ("2026-11-24T00", "2026-11-25T00")
    err = capsys.readouterr().err.splitlines()
    assert err == ["rayab backfill: --from is deprecated, use --start", "rayab backfill: --to is deprecated, use --end"]
    assert _parse("--start", "2026-11-24T00", "--to", "2026-11-25T00") == ("2026-11-24T00", "2026-11-25T00")


def test_help_shows_only_start_and_end(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["backfill", "--help"])
    assert exit_info.value.code == 0
    out = capsys.readouterr().out
    assert "--start START" in out and "--end END" in out
    assert "--from" not in out and "--to" not in out


@pytest.mark.parametrize(("flags", "message"), [
    (("--end", "2026-11-25T00"), "one of the arguments --start is required"),
    (("--start", "2026-11-24T00", "--from", "2026-11-24T00", "--end", "2026-11-25T00"),
     "argument --from: not allowed with argument --start"),
])
def test_a_missing_or_doubled_bound_is_a_usage_error(flags: tuple[str, ...], message: str,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["backfill", *flags, "--logs", "logs"])
    assert exit_info.value.code == 2
    assert capsys.readouterr().err.splitlines()[-1].endswith(message)
