"""Stock-music libraries: the library brief and its track specs, tagging (BWF bext, iXML,
ID3), the catalogue, its folder (what is there, staging, switching) and its browsable page.
"""
