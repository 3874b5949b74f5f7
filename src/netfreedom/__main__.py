from netfreedom.cli import main

main()
