# Overrides pyinstaller-hooks-contrib's hook-webrtcvad, which copies the metadata of a
# distribution named "webrtcvad"; Vigil installs the same module from "webrtcvad-wheels".
from PyInstaller.utils.hooks import copy_metadata

datas = copy_metadata("webrtcvad-wheels")
