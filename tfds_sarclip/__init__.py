"""TFDS builders for SAR image-text data, written as array_record and read without TensorFlow.

    sarclip1m/{synthetic,synthetic_tiny,release,sources}   tfds_sarclip/sarclip1m/
    sar_zeroshot/{folder,mstar_soc,fusar_ship,sar_vsa}     tfds_sarclip/sar_zeroshot/

Importing a builder module registers it with TFDS. Source parsers live in `sources/`, the
caption generator in `captions.py`, the synthetic scene generator in `synthetic.py`, fixture
trees in `*/dummy_data/` (regenerate with `python -m tfds_sarclip.dummy_data_gen`).
"""
