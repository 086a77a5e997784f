"""sarclip_jax: SARCLIP (CLIP for Synthetic Aperture Radar) in JAX/Flax."""

import pathlib

import setuptools


def package_files(package: str, folder: str) -> list[str]:
    """Every file under package/**/folder/, relative to the package (setuptools' own globs miss
    suffix-less files such as raw MSTAR chips and files in deeper folders)."""
    root = pathlib.Path(package)
    return sorted(str(p.relative_to(root)) for d in root.rglob(folder) if d.is_dir()
                  for p in d.rglob("*") if p.is_file())


# Ranges admit the stacks seen on Python 3.11 (jax 0.10.2) and the GPU machines' Python 3.12
# (jax 0.11); the lower bounds are what CI tests (.ci/constraints.txt pins them).
INSTALL_REQUIRES = [
    "jax>=0.10.2,<0.12",
    "flax>=0.12.8,<0.14",
    "optax>=0.2.8,<0.3",
    "orbax-checkpoint>=0.12.8,<0.14",
    "tensorflow-datasets>=4.9.10,<5",
    "grain>=0.2.18,<0.3",
    "array_record>=0.8.6,<0.9",
    "ml_collections>=1.1.0,<2",
    "sentencepiece>=0.2.0,<0.3",
    "numpy>=1.26,<3",
    "pillow>=10",
    "safetensors>=0.4.3",
    "tifffile>=2024.1.30",
    "etils[epath]>=1.7",
    "importlib_resources>=6",  # TFDS builders inside a package need it; TFDS does not declare it
    "ftfy>=6.1",
    "regex>=2023.10",
    "tqdm>=4.66",
    "tensorboardX>=2.6",  # TensorBoard event files without TensorFlow
    "scikit-learn>=1.3",  # linear probe
    "matplotlib>=3.7",  # report figures
]

TEST_REQUIRES = [
    "pytest>=8",
    "pytest-timeout>=2.3",
    "hypothesis>=6.100",  # fuzzing the readers and parsers
    # Test-only references. Exactly the CPU wheel: a bare `torch` would pull a CUDA build.
    "torch==2.13.0",
    "open_clip_torch>=3.0,<4",
    "transformers>=4.44",
    "jax[tpu]>=0.10.2,<0.12",  # libtpu: the AOT tests compile for TPU slices on a CPU (no TPU needed)
    "nbclient>=0.10",  # runs the quickstart notebook
    "nbformat>=5.9",
    "ipykernel>=6.29",
]

setuptools.setup(
    name="sarclip_jax",
    version="0.1.0",
    description="SARCLIP, the CLIP model for Synthetic Aperture Radar imagery, in JAX/Flax.",
    long_description=open("README.md", encoding="utf-8").read(),
    long_description_content_type="text/markdown",
    python_requires=">=3.11",
    # Only the project's own names: configs/ and eval/ are folders of files loaded by path.
    packages=setuptools.find_packages(include=["sarclip_jax", "sarclip_jax.*", "tfds_sarclip", "tfds_sarclip.*"]),
    # The builders' fixture trees (their tests' manual_dir), and TFDS checksum/metadata files.
    package_data={"tfds_sarclip": package_files("tfds_sarclip", "dummy_data") + ["**/*.txt", "**/*.tsv"]},
    install_requires=INSTALL_REQUIRES,
    extras_require={
        "test": TEST_REQUIRES,
        "tpu": ["jax[tpu]>=0.10.2,<0.12"],  # a Cloud TPU VM (every worker of a pod)
        "cuda": ["jax[cuda12]>=0.10.2,<0.12"],  # a CUDA 12 machine or a Colab GPU runtime
    },
    entry_points={"console_scripts": ["sarclip=sarclip_jax.cli:main"]},
)
