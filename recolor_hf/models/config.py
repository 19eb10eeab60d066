"""Config keys that changed: older saved configs still load into the current classes."""

from typing import Any


class RenamedConfigKeys:
    """A mixin for a diffusers ``ConfigMixin`` model (listed before it): ``RENAMED_KEYS`` {old name: new name} load
    a config saved under an old key name into the new one; ``RETIRED_KEYS`` {key: value} are settings that left
    the config for module constants: a saved config holding that value loads, one asking for another is refused
    (ValueError)."""

    RENAMED_KEYS: dict[str, str] = {}
    RETIRED_KEYS: dict[str, Any] = {}

    @classmethod
    def extract_init_dict(cls, config_dict: dict, **kwargs):
        """diffusers' ``extract_init_dict`` on the config with the renamed keys under their new names and the
        retired keys dropped."""
        config_dict = dict(config_dict)
        for old, new in cls.RENAMED_KEYS.items():
            if old in config_dict:
                config_dict.setdefault(new, config_dict.pop(old))
        for key, value in cls.RETIRED_KEYS.items():
            if key in config_dict and tuple(config_dict.pop(key)) != value:
                raise ValueError(f"this {cls.__name__} config sets {key} to a value other than {value}, which is no "
                                 "longer a setting of the model")
        return super().extract_init_dict(config_dict, **kwargs)
