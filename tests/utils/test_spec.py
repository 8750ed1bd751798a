"""Plain-data specs: only allowed classes are called, and nothing Hydra would act on passes."""

import pytest

from src.utils.spec import UnsafeSpecError, build_from_spec, check_spec, class_targets


class Allowed:
    def __init__(self, size: int = 1, sizes: list | None = None) -> None:
        self.size, self.sizes = size, sizes


ALLOWED = class_targets([Allowed], "pkg")


def test_an_allowed_class_is_built_from_plain_data_under_both_names():
    built = build_from_spec({"_target_": "pkg.Allowed", "size": 3, "sizes": [[1, 2]]}, ALLOWED, "x")
    assert (built.size, built.sizes) == (3, [[1, 2]])
    qualified = f"{Allowed.__module__}.Allowed"
    assert isinstance(build_from_spec({"_target_": qualified}, ALLOWED, "x"), Allowed)


@pytest.mark.parametrize(
    ("spec", "named"),
    [
        (
            {"_target_": "pathlib.Path.write_text", "data": "x"},
            "_target_='pathlib.Path.write_text'",
        ),
        ({"_target_": "os.system", "_args_": ["touch /tmp/pwned"]}, "'os.system'"),
        ({"size": 2}, "_target_=None"),
        (
            {"_target_": "pkg.Allowed", "sizes": [{"_target_": "os.system", "command": "id"}]},
            "m.sizes[0]._target_='os.system'",
        ),
        ({"_target_": "pkg.Allowed", "_partial_": True}, "m._partial_=True"),
        ({"_target_": "pkg.Allowed", "size": {"_args_": [1]}}, "m.size._args_=[1]"),
        ({"_target_": "pkg.Allowed", "size": b"bytes"}, "m.size=b'bytes'"),
        ("pkg.Allowed", "expected a mapping"),
    ],
)
def test_anything_else_is_refused_naming_the_key_and_value(spec, named):
    with pytest.raises(UnsafeSpecError) as error:
        check_spec(spec, ALLOWED, "m")
    assert named in str(error.value)
