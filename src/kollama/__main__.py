from kollama.cli import main

main()
